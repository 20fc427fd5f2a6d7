// deploy/prometheus/connectware-backup.rules.yml: every metric an alert names must be one the hooks write
// (an alert on a misspelt metric never fires, and nobody notices), and the alerts an operator needs must be
// there. What the hooks write is taken from snapshot::prometheus_text, the one function that writes every
// connectware_*.prom file, fed a report of each subject with every optional part present.
#include "snapshot/run_report.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace cwb {
namespace {

namespace fs = std::filesystem;

const fs::path rules_file = fs::path(CWB_SOURCE_DIR) / "deploy" / "prometheus" / "connectware-backup.rules.yml";

/// The metric names of the sample lines of a Prometheus text exposition.
std::set<std::string> metric_names(const std::string& exposition) {
  std::set<std::string> names;
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.front() == '#') continue;
    names.insert(line.substr(0, line.find_first_of("{ ")));
  }
  return names;
}

/// Every metric the hooks can write: a backup with retention and a previous success, a restore, a drill.
std::set<std::string> written_metrics() {
  std::set<std::string> names;
  for (const std::string subject : {"backup", "restore", "restore_drill"}) {
    snapshot::RunReport report;
    report.subject = subject;
    report.success = true;
    report.last_success_unix = 1795000000;
    report.stage_seconds = {{"fetch", 1.0}};
    report.retention = snapshot::RetentionOutcome{};
    report.snapshot_age_seconds = 60;
    names.merge(metric_names(snapshot::prometheus_text(report)));
  }
  return names;
}

struct Rule {
  std::string alert;
  std::string expr;
  std::set<std::string> metrics; // the connectware_* names in expr
};

std::vector<Rule> load_rules() {
  std::vector<Rule> rules;
  YAML::Node root;
  try {
    root = YAML::LoadFile(rules_file.string());
  } catch (const YAML::Exception& error) {
    ADD_FAILURE() << rules_file << " is not valid YAML: " << error.what();
    return rules;
  }
  const std::regex metric(R"(\bconnectware_[a-z_]+\b)");
  for (const auto& group : root["groups"]) {
    EXPECT_TRUE(group["name"]) << "a group without a name";
    for (const auto& node : group["rules"]) {
      Rule rule{node["alert"].as<std::string>(""), node["expr"].as<std::string>(""), {}};
      EXPECT_FALSE(rule.alert.empty()) << "a rule without an alert name (recording rules do not belong here)";
      EXPECT_FALSE(rule.expr.empty()) << rule.alert;
      const auto severity = node["labels"]["severity"].as<std::string>("");
      EXPECT_TRUE(severity == "critical" || severity == "warning") << rule.alert << ": severity " << severity;
      EXPECT_FALSE(node["annotations"]["summary"].as<std::string>("").empty()) << rule.alert << ": no summary";
      for (std::sregex_iterator it(rule.expr.begin(), rule.expr.end(), metric), end; it != end; ++it)
        rule.metrics.insert(it->str());
      EXPECT_FALSE(rule.metrics.empty()) << rule.alert << " names none of our metrics: " << rule.expr;
      rules.push_back(std::move(rule));
    }
  }
  return rules;
}

TEST(PrometheusRules, EveryMetricAnAlertNamesIsOneTheHooksWrite) {
  const auto written = written_metrics();
  const auto rules = load_rules();
  ASSERT_FALSE(rules.empty());
  for (const auto& rule : rules) {
    for (const auto& name : rule.metrics)
      EXPECT_TRUE(written.contains(name)) << rule.alert << " names " << name << ", which no hook writes";
  }
}

TEST(PrometheusRules, TheCheckKnowsAMisspeltMetricFromAWrittenOne) {
  // The check above is only worth something if its list of written metrics is specific.
  const auto written = written_metrics();
  EXPECT_TRUE(written.contains("connectware_backup_success"));
  EXPECT_TRUE(written.contains("connectware_restore_drill_snapshot_age_seconds"));
  EXPECT_FALSE(written.contains("connectware_backup_sucess"));
  EXPECT_FALSE(written.contains("connectware_restore_drill_quiesce_window_seconds"));
}

TEST(PrometheusRules, AlertOnAFailedRunNoRecentSuccessAFailingDrillAShrinkAndALongQuiesce) {
  const std::map<std::string, std::string> needed = {
      {"a failed backup", "connectware_backup_success"},
      {"no success for 26 h", "connectware_backup_last_success_timestamp_seconds"},
      {"a failing drill", "connectware_restore_drill_success"},
      {"a shrink alert", "connectware_backup_shrink_alert"},
      {"a quiesce window too long", "connectware_backup_quiesce_window_seconds"}};
  const auto rules = load_rules();
  for (const auto& [what, metric] : needed) {
    const bool found =
        std::ranges::any_of(rules, [&metric](const Rule& rule) { return rule.metrics.contains(metric); });
    EXPECT_TRUE(found) << "no alert on " << what << " (" << metric << ")";
  }
  const auto stale = std::ranges::find_if(rules, [](const Rule& rule) {
    return rule.metrics.contains("connectware_backup_last_success_timestamp_seconds") &&
           rule.expr.find("time()") != std::string::npos;
  });
  ASSERT_NE(stale, rules.end());
  EXPECT_THAT(stale->expr, testing::HasSubstr("26 * 3600"));
}

} // namespace
} // namespace cwb
