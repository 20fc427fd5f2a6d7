#include "snapshot/run_report.hpp"

#include "util/file_system.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace cwb::snapshot {
namespace {

RunReport successful_run() {
  RunReport report;
  report.success = true;
  report.started = "2026-11-25T15:00:00.000Z";
  report.finished = "2026-11-25T15:00:10.000Z";
  report.finished_unix = 1795000010;
  report.stage_seconds = {{"export", 2.5}, {"restic", 4.0}};
  report.quiesce_mode = "optimistic";
  report.quiesce_outcome = "paused_retry";
  report.quiesce_window_seconds = 1.25;
  report.database_bytes = 1000;
  report.database_archive_bytes = 600;
  report.snapshot_id = "abcd1234";
  return report;
}

TEST(RunReport, SuccessRecordsItselfAsTheLastSuccess) {
  auto dir = util::TemporaryDirectory::create({}, "cwb-test-");
  ASSERT_TRUE(dir);
  ASSERT_TRUE(write_run_report(successful_run(), dir->path() / "status.json", dir->path() / "m.prom"));
  const auto status = nlohmann::json::parse(util::read_file(dir->path() / "status.json").value());
  EXPECT_TRUE(status["success"].get<bool>());
  EXPECT_EQ(status["last_success_unix"].get<std::int64_t>(), 1795000010);
  EXPECT_EQ(status["snapshot_id"], "abcd1234");
  EXPECT_EQ(status["quiesce"]["mode"], "optimistic");
  EXPECT_EQ(status["quiesce"]["outcome"], "paused_retry");
  EXPECT_EQ(status["stage_seconds"]["export"].get<double>(), 2.5);
  // The stored database (an unpacked tar) and the archive as downloaded are reported apart.
  EXPECT_EQ(status["bytes"]["database"].get<std::uint64_t>(), 1000u);
  EXPECT_EQ(status["bytes"]["database_archive"].get<std::uint64_t>(), 600u);
  const auto metrics = util::read_file(dir->path() / "m.prom").value();
  EXPECT_NE(metrics.find("connectware_backup_bytes{kind=\"database_archive\"} 600\n"), std::string::npos) << metrics;
}

TEST(RunReport, FailureKeepsThePreviousLastSuccessAndRecordsTheError) {
  auto dir = util::TemporaryDirectory::create({}, "cwb-test-");
  ASSERT_TRUE(dir);
  const auto status_file = dir->path() / "status.json";
  ASSERT_TRUE(write_run_report(successful_run(), status_file, {}));
  RunReport failed;
  failed.success = false;
  failed.exit_code = 5;
  failed.error_kind = "export_failed";
  failed.error_message = "export failed: disk full on the server";
  failed.finished_unix = 1795090000;
  ASSERT_TRUE(write_run_report(failed, status_file, dir->path() / "m.prom"));
  const auto status = nlohmann::json::parse(util::read_file(status_file).value());
  EXPECT_FALSE(status["success"].get<bool>());
  EXPECT_EQ(status["last_success_unix"].get<std::int64_t>(), 1795000010);
  EXPECT_EQ(status["error"]["kind"], "export_failed");
  const auto metrics = util::read_file(dir->path() / "m.prom").value();
  EXPECT_NE(metrics.find("connectware_backup_success 0\n"), std::string::npos);
  EXPECT_NE(metrics.find("connectware_backup_exit_code 5\n"), std::string::npos);
  EXPECT_NE(metrics.find("connectware_backup_last_success_timestamp_seconds 1795000010\n"), std::string::npos);
}

TEST(RunReport, AnErrorQuotingAUrlWithAPasswordIsRecordedMasked) {
  RunReport failed;
  failed.success = false;
  failed.exit_code = 3;
  failed.error_message = "cannot reach https://admin:cw-pass@cw.example/api/system/info";
  const auto status = nlohmann::json::parse(status_json(failed));
  EXPECT_EQ(status["error"]["message"], "cannot reach https://admin:***@cw.example/api/system/info");
}

TEST(RunReport, PrometheusTextHasHelpAndTypeForEveryMetricAndLabelsStages) {
  const auto text = prometheus_text(successful_run());
  EXPECT_NE(text.find("# TYPE connectware_backup_success gauge"), std::string::npos);
  EXPECT_NE(text.find("connectware_backup_stage_duration_seconds{stage=\"export\"} 2.500"), std::string::npos);
  EXPECT_NE(text.find("connectware_backup_quiesce_window_seconds 1.250"), std::string::npos);
  EXPECT_NE(text.find("connectware_backup_bytes{kind=\"database\"} 1000"), std::string::npos);
  // Every sample line belongs to a metric that has a TYPE line.
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto name = line.substr(0, line.find_first_of("{ "));
    EXPECT_NE(text.find("# TYPE " + name + " "), std::string::npos) << line;
  }
}

TEST(RunReport, ADrillRecordsTheSnapshotAgeAndDurationUnderItsOwnName) {
  RunReport drill;
  drill.subject = "restore_drill";
  drill.success = true;
  drill.finished_unix = 1795000010;
  drill.snapshot_id = "abcd1234";
  drill.snapshot_age_seconds = 3600;
  drill.duration_seconds = 42.5;
  drill.read_data_subset = "5%";
  drill.stage_seconds = {{"fetch", 20.0}};
  const auto text = prometheus_text(drill);
  EXPECT_NE(text.find("connectware_restore_drill_success 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("connectware_restore_drill_snapshot_age_seconds 3600\n"), std::string::npos) << text;
  EXPECT_NE(text.find("connectware_restore_drill_duration_seconds 42.500\n"), std::string::npos) << text;
  EXPECT_NE(text.find("connectware_restore_drill_stage_duration_seconds{stage=\"fetch\"} 20.000"), std::string::npos);
  // A backup's metrics are not a drill's.
  EXPECT_EQ(text.find("quiesce_window"), std::string::npos) << text;
  EXPECT_EQ(text.find("connectware_backup_"), std::string::npos) << text;
  const auto status = nlohmann::json::parse(status_json(drill));
  EXPECT_EQ(status["snapshot_age_seconds"].get<std::int64_t>(), 3600);
  EXPECT_EQ(status["read_data_subset"], "5%");
  EXPECT_FALSE(status.contains("shrink_alert"));
}

TEST(RunReport, AFailedDrillBeforeItFoundASnapshotHasNoSnapshotAge) {
  RunReport drill;
  drill.subject = "restore_drill";
  drill.success = false;
  drill.exit_code = 11;
  const auto text = prometheus_text(drill);
  EXPECT_NE(text.find("connectware_restore_drill_exit_code 11\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("snapshot_age_seconds"), std::string::npos) << text;
  EXPECT_TRUE(nlohmann::json::parse(status_json(drill))["snapshot_age_seconds"].is_null());
}

TEST(RunReport, AMissingPreviousStatusMeansNoLastSuccess) {
  auto dir = util::TemporaryDirectory::create({}, "cwb-test-");
  ASSERT_TRUE(dir);
  EXPECT_FALSE(read_last_success(dir->path() / "absent.json"));
  ASSERT_TRUE(util::write_file_atomic(dir->path() / "garbage.json", "not json"));
  EXPECT_FALSE(read_last_success(dir->path() / "garbage.json"));
}

TEST(RunReport, ASuccessKeepsItsSizesForTheNextShrinkCheckAndAFailureCarriesThemOver) {
  auto dir = util::TemporaryDirectory::create({}, "cwb-test-");
  ASSERT_TRUE(dir);
  const auto status_file = dir->path() / "status.json";
  EXPECT_FALSE(read_last_success_sizes(status_file));
  auto good = successful_run();
  good.sizes = RunSizes{600, 12, 30, 4096};
  ASSERT_TRUE(write_run_report(good, status_file, {}));
  EXPECT_EQ(read_last_success_sizes(status_file), good.sizes);

  RunReport failed;
  failed.exit_code = 21;
  failed.error_kind = "shrunk";
  failed.shrink_alert = true;
  failed.sizes = RunSizes{600, 12, 1, 10};
  ASSERT_TRUE(write_run_report(failed, status_file, dir->path() / "m.prom"));
  EXPECT_EQ(read_last_success_sizes(status_file), good.sizes);
  const auto status = nlohmann::json::parse(util::read_file(status_file).value());
  EXPECT_EQ(status["sizes"]["volume_files"], 1);
  EXPECT_EQ(status["shrink_alert"]["raised"], true);
  const auto metrics = util::read_file(dir->path() / "m.prom").value();
  EXPECT_NE(metrics.find("# TYPE connectware_backup_shrink_alert gauge\nconnectware_backup_shrink_alert 1\n"),
            std::string::npos)
      << metrics;
}

TEST(RunReport, RetentionIsReportedOnlyWhenItRan) {
  auto dir = util::TemporaryDirectory::create({}, "cwb-test-");
  ASSERT_TRUE(dir);
  auto report = successful_run();
  EXPECT_EQ(prometheus_text(report).find("forget"), std::string::npos);
  report.retention = RetentionOutcome{false, true, 0, 0, "restic forget: https://u:hunter2@s3.example/b locked"};
  ASSERT_TRUE(write_run_report(report, dir->path() / "status.json", dir->path() / "m.prom"));
  const auto status = nlohmann::json::parse(util::read_file(dir->path() / "status.json").value());
  EXPECT_EQ(status["success"], true);
  EXPECT_EQ(status["retention"]["success"], false);
  EXPECT_EQ(status["retention"]["error"].get<std::string>().find("hunter2"), std::string::npos);
  const auto metrics = util::read_file(dir->path() / "m.prom").value();
  EXPECT_NE(metrics.find("connectware_backup_forget_success 0\n"), std::string::npos) << metrics;
}

TEST(RunReport, ARestoreReportHasNoBackupSizes) {
  auto report = successful_run();
  report.subject = "restore";
  const auto status = nlohmann::json::parse(status_json(report));
  EXPECT_FALSE(status.contains("sizes"));
  EXPECT_EQ(prometheus_text(report).find("shrink"), std::string::npos);
}

} // namespace
} // namespace cwb::snapshot
