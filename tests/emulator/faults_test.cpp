#include "faults.hpp"

#include <gtest/gtest.h>

namespace cwb::emulator {
namespace {

TEST(FaultSet, ParsesNamesWithAndWithoutValues) {
  const auto faults = FaultSet::parse({"slow_export=5", "truncate_download"});
  ASSERT_TRUE(faults);
  EXPECT_EQ(faults->at("slow_export"), "5");
  EXPECT_EQ(faults->at("truncate_download"), "");
}

TEST(FaultSet, RejectsUnknownNamesAndBadNumbers) {
  EXPECT_FALSE(FaultSet::parse({"explode"}));
  EXPECT_FALSE(FaultSet::parse({"slow_export=soon"}));
  EXPECT_FALSE(FaultSet::parse({"http_500"}));
  EXPECT_FALSE(FaultSet::parse({"refuse_restore"}));
  EXPECT_FALSE(FaultSet::parse({"stopped_service"}));
  EXPECT_TRUE(FaultSet::parse({"stopped_service=protocol-mapper"}));
}

TEST(FaultSet, TheVariantIsOneOfTheKnownAnswerStyles) {
  for (const char* known : {"variant=docs", "variant=nulls", "variant=terse"})
    EXPECT_TRUE(FaultSet::parse({known})) << known;
  EXPECT_FALSE(FaultSet::parse({"variant"}));
  EXPECT_FALSE(FaultSet::parse({"variant=chatty"}));
  EXPECT_TRUE(FaultSet::parse({"backup_start_502=2", "restore_started_502"}));
}

TEST(FaultSet, ACountedFaultFiresCountTimesThenClears) {
  FaultSet faults;
  faults.replace(FaultSet::parse({"http_500=2"}).value());
  EXPECT_TRUE(faults.consume("http_500"));
  EXPECT_TRUE(faults.consume("http_500"));
  EXPECT_FALSE(faults.consume("http_500"));
  EXPECT_FALSE(faults.active("http_500"));
}

TEST(FaultSet, AFaultWithoutCountFiresEveryTime) {
  FaultSet faults;
  faults.replace(FaultSet::parse({"fail_export"}).value());
  EXPECT_TRUE(faults.consume("fail_export"));
  EXPECT_TRUE(faults.consume("fail_export"));
}

TEST(FaultSet, ReadsTheJsonOfTheFaultEndpoint) {
  const auto faults = FaultSet::from_json(nlohmann::json::parse(R"({"faults": {"slow_export": "5", "http_500": 3}})"));
  ASSERT_TRUE(faults);
  EXPECT_EQ(faults->at("http_500"), "3");
  EXPECT_FALSE(FaultSet::from_json(nlohmann::json::parse(R"({"slow_export": "5"})")));
  EXPECT_FALSE(FaultSet::from_json(nlohmann::json::parse(R"({"faults": {"nope": ""}})")));
}

} // namespace
} // namespace cwb::emulator
