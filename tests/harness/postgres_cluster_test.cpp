#include "support/postgres_cluster.hpp"

#include "util/file_system.hpp"

#include <gtest/gtest.h>

namespace cwb::test {
namespace {

class PostgresClusterTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto dir = util::TemporaryDirectory::create("", "harness-pg-test-");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_ = std::move(*dir);
  }
  util::TemporaryDirectory dir_;
};

TEST_F(PostgresClusterTest, AnswersQueriesInACreatedDatabase) {
  auto cluster = PostgresCluster::start(dir_.path());
  ASSERT_TRUE(cluster) << cluster.error().message;
  ASSERT_TRUE(cluster->create_database("connectware"));
  auto created = cluster->psql("connectware", "CREATE TABLE t (v text); INSERT INTO t VALUES ('a'), ('b');");
  ASSERT_TRUE(created) << created.error().message;
  auto rows = cluster->psql("connectware", "SELECT string_agg(v, ',' ORDER BY v) FROM t");
  ASSERT_TRUE(rows) << rows.error().message;
  EXPECT_EQ(*rows, "a,b\n");
  EXPECT_NE(cluster->conninfo("connectware").find("port=" + std::to_string(cluster->port())), std::string::npos);
}

TEST_F(PostgresClusterTest, ReportsSqlErrorsWithPsqlsMessage) {
  auto cluster = PostgresCluster::start(dir_.path());
  ASSERT_TRUE(cluster) << cluster.error().message;
  auto result = cluster->psql("postgres", "SELECT * FROM no_such_table");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("no_such_table"), std::string::npos) << result.error().message;
}

TEST_F(PostgresClusterTest, StopLeavesNoProcessBehind) {
  auto cluster = PostgresCluster::start(dir_.path());
  ASSERT_TRUE(cluster) << cluster.error().message;
  ASSERT_TRUE(cluster->psql("postgres", "SELECT 1")); // a backend was forked at least once
  const auto processes = cluster->processes();
  ASSERT_GE(processes.size(), 2U) << "the postmaster and its auxiliary processes";
  cluster->stop();
  EXPECT_TRUE(still_running(processes).empty());
}

} // namespace
} // namespace cwb::test
