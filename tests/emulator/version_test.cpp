#include "version.hpp"

#include <gtest/gtest.h>

namespace cwb::emulator {
namespace {

Version v(const char* text) {
  return Version::parse(text).value();
}

TEST(Version, ComparesComponentsNumerically) {
  EXPECT_TRUE(v("1.9.9") < v("1.10.0"));
  EXPECT_TRUE(v("1.10") == v("1.10.0"));
  EXPECT_FALSE(v("2.0.0") < v("1.99.99"));
}

TEST(Version, RejectsTextThatIsNotDottedDigits) {
  EXPECT_FALSE(Version::parse("1.x.0"));
  EXPECT_FALSE(Version::parse(""));
  EXPECT_FALSE(Version::parse("1..2"));
}

TEST(CompatRule, ParsesThresholdAndLastVersion) {
  const auto rule = CompatRule::parse("<1.5.0=1.4.9");
  ASSERT_TRUE(rule);
  EXPECT_EQ(rule->changed_at.text, "1.5.0");
  EXPECT_EQ(rule->last_restoring.text, "1.4.9");
  EXPECT_FALSE(CompatRule::parse("1.5.0=1.4.9"));
  EXPECT_FALSE(CompatRule::parse("<1.5.0"));
}

TEST(RestoreRefusal, NamesTheLastVersionThatCanRestoreAnArchiveFromBeforeAStructureChange) {
  const std::vector<CompatRule> rules = {CompatRule::parse("<1.5.0=1.4.9").value()};
  EXPECT_EQ(restore_refusal(v("1.4.0"), v("1.10.2"), rules),
            "Restore refused: the database structure changed after version 1.4.0 of this backup file. The last "
            "Connectware version that can restore this backup file is 1.4.9.");
}

TEST(RestoreRefusal, AcceptsArchivesOnTheSameSideOfEveryStructureChange) {
  const std::vector<CompatRule> rules = {CompatRule::parse("<1.5.0=1.4.9").value()};
  EXPECT_EQ(restore_refusal(v("1.5.0"), v("1.10.2"), rules), std::nullopt);
  EXPECT_EQ(restore_refusal(v("1.3.0"), v("1.4.2"), rules), std::nullopt);
  EXPECT_EQ(restore_refusal(v("1.10.2"), v("1.10.2"), rules), std::nullopt);
}

TEST(RestoreRefusal, TheEarliestCrossedChangeDecides) {
  const std::vector<CompatRule> rules = {CompatRule::parse("<2.0.0=1.9.9").value(),
                                         CompatRule::parse("<1.5.0=1.4.9").value()};
  const auto message = restore_refusal(v("1.4.0"), v("2.1.0"), rules);
  ASSERT_TRUE(message);
  EXPECT_NE(message->find("is 1.4.9."), std::string::npos);
}

TEST(RestoreRefusal, RefusesArchivesFromANewerVersion) {
  const auto message = restore_refusal(v("1.11.0"), v("1.10.2"), {});
  ASSERT_TRUE(message);
  EXPECT_NE(message->find("newer"), std::string::npos);
  EXPECT_NE(message->find("1.11.0"), std::string::npos);
}

} // namespace
} // namespace cwb::emulator
