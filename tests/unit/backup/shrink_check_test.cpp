// The shrink alert's comparison: which drops are findings.
#include "backup/shrink_check.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cwb::backup {
namespace {

using snapshot::RunSizes;
using testing::ElementsAre;

const RunSizes kLastGood{1000, 40, 1204, 500000};

TEST(ShrinkCheck, ADropByMoreThanThePercentIsAFindingNamingBeforeAfterAndTheDrop) {
  const RunSizes now{990, 40, 3, 499000};
  EXPECT_THAT(shrink_findings(kLastGood, now, 50), ElementsAre("volume files: 1204 -> 3 (-99.8 %)"));
}

TEST(ShrinkCheck, EverySizeIsComparedInAFixedOrder) {
  EXPECT_THAT(shrink_findings(kLastGood, RunSizes{100, 0, 0, 1}, 50),
              ElementsAre("database archive bytes: 1000 -> 100 (-90.0 %)", "database entries: 40 -> 0 (-100.0 %)",
                          "volume files: 1204 -> 0 (-100.0 %)", "volume bytes: 500000 -> 1 (-100.0 %)"));
}

TEST(ShrinkCheck, ADropOfExactlyThePercentOrLessAndGrowthAreNoFinding) {
  EXPECT_TRUE(shrink_findings(kLastGood, RunSizes{500, 20, 602, 250000}, 50).empty());
  EXPECT_TRUE(shrink_findings(kLastGood, RunSizes{5000, 400, 9999, 9999999}, 50).empty());
  EXPECT_EQ(shrink_findings(kLastGood, RunSizes{499, 40, 1204, 500000}, 50).size(), 1U);
}

TEST(ShrinkCheck, HundredPercentNeverAlertsAndZeroAlertsOnAnyDrop) {
  EXPECT_TRUE(shrink_findings(kLastGood, RunSizes{0, 0, 0, 0}, 100).empty());
  EXPECT_THAT(shrink_findings(kLastGood, RunSizes{999, 40, 1204, 500000}, 0),
              ElementsAre("database archive bytes: 1000 -> 999 (-0.1 %)"));
}

TEST(ShrinkCheck, ASizeThatWasZeroBeforeIsNeverAFinding) {
  // A status file of a version without entry counts, or a volume that was empty: nothing to lose.
  EXPECT_TRUE(shrink_findings(RunSizes{0, 0, 0, 0}, RunSizes{0, 0, 0, 0}, 0).empty());
}

TEST(ShrinkCheck, TerabyteSizesDoNotOverflow) {
  const std::uint64_t big = 18'000'000'000'000'000'000ULL;
  EXPECT_THAT(shrink_findings(RunSizes{0, 0, 0, big}, RunSizes{0, 0, 0, big / 4}, 50),
              ElementsAre(testing::HasSubstr("(-75.0 %)")));
}

} // namespace
} // namespace cwb::backup
