#include "ping/ping.hpp"

#include "http/curl_transport.hpp"
#include "support/loopback_server.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <regex>

namespace cwb::ping {
namespace {

using testing::HasSubstr;
using testing::Not;

constexpr const char* check_uuid = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";

TEST(PingUrl, AppendsTheSignalAndTheRunId) {
  const std::string base = std::string("https://hc-ping.com/") + check_uuid;
  EXPECT_EQ(ping_url(base, "/start", "r1"), base + "/start?rid=r1");
  EXPECT_EQ(ping_url(base, "", "r1"), base + "?rid=r1");
  EXPECT_EQ(ping_url(base + "/", "/9", "r1"), base + "/9?rid=r1");
  EXPECT_EQ(ping_url(base, "/start", ""), base + "/start");
}

TEST(PingUrl, KeepsAQueryOfTheBaseAtTheEnd) {
  EXPECT_EQ(ping_url("https://hc-ping.com/key/backup?create=1", "/start", "r1"),
            "https://hc-ping.com/key/backup/start?create=1&rid=r1");
}

TEST(RunId, IsAFreshVersion4Uuid) {
  const std::regex uuid("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  const auto first = new_run_id();
  EXPECT_TRUE(std::regex_match(first, uuid)) << first;
  EXPECT_NE(first, new_run_id());
}

TEST(LogTail, KeepsWholeLinesFromTheEndWithinTheLimit) {
  std::string log;
  for (int line = 0; line < 1000; ++line)
    log += "line " + std::to_string(line) + " of the hook's log\n";
  const auto tail = log_tail(log, 100);
  EXPECT_LE(tail.size(), 100U);
  EXPECT_TRUE(tail.starts_with("line ")) << tail;
  EXPECT_TRUE(tail.ends_with("line 999 of the hook's log\n")) << tail;
  EXPECT_EQ(log_tail("short\n", 100), "short\n");
  EXPECT_LE(log_tail(log).size(), max_body_bytes);
}

/// A monitoring service on loopback: records every ping (path, query, body); `failures` answers 500 first.
class PingService {
public:
  explicit PingService(int failures = 0) : failures_(failures) {
    auto server = std::make_unique<httplib::Server>();
    server->Post(".*", [this](const httplib::Request& request, httplib::Response& response) {
      std::lock_guard lock(mutex_);
      pings.push_back({request.path, request.has_param("rid") ? request.get_param_value("rid") : "", request.body});
      if (failures_ > 0) {
        --failures_;
        response.status = 500;
        return;
      }
      response.set_content("OK", "text/plain");
    });
    server_ = std::make_unique<test::LoopbackServer>(std::move(server));
  }
  [[nodiscard]] std::string url() const { return server_->base_url() + "/" + check_uuid; }

  struct Ping {
    std::string path, rid, body;
  };
  std::vector<Ping> pings;

private:
  std::mutex mutex_;
  int failures_;
  std::unique_ptr<test::LoopbackServer> server_;
};

class PingerTest : public testing::Test {
protected:
  Pinger pinger(const std::string& url, int retries = 2) {
    PingOptions options;
    options.url = url;
    options.timeout = std::chrono::seconds(5);
    options.retries = retries;
    return Pinger(options, transport_, sleeper_);
  }
  http::CurlTransport transport_;
  test::FakeSleeper sleeper_;
};

TEST_F(PingerTest, StartSuccessAndFailurePingsFollowHealthchecksConventions) {
  PingService service;
  auto pings = pinger(service.url());
  ASSERT_TRUE(pings.start("run-1"));
  ASSERT_TRUE(pings.finish("run-1", 0, "all good\n"));
  ASSERT_TRUE(pings.start("run-2"));
  ASSERT_TRUE(pings.finish("run-2", 9, "connectware-backup: error: restic failed\n"));
  ASSERT_EQ(service.pings.size(), 4U);
  const std::string path = std::string("/") + check_uuid;
  EXPECT_EQ(service.pings[0].path, path + "/start");
  EXPECT_EQ(service.pings[0].rid, "run-1");
  EXPECT_EQ(service.pings[1].path, path);
  EXPECT_EQ(service.pings[1].rid, "run-1");
  EXPECT_EQ(service.pings[1].body, "all good\n");
  EXPECT_EQ(service.pings[3].path, path + "/9");
  EXPECT_EQ(service.pings[3].rid, "run-2");
  EXPECT_THAT(service.pings[3].body, HasSubstr("restic failed"));
}

TEST_F(PingerTest, TheBodyIsTheLogsLastTenKilobytes) {
  PingService service;
  std::string log;
  for (int line = 0; line < 2000; ++line)
    log += "connectware-backup: info: step " + std::to_string(line) + "\n";
  ASSERT_TRUE(pinger(service.url()).finish("run", 5, log));
  ASSERT_EQ(service.pings.size(), 1U);
  EXPECT_LE(service.pings[0].body.size(), max_body_bytes);
  EXPECT_GT(service.pings[0].body.size(), max_body_bytes - 100);
  EXPECT_TRUE(service.pings[0].body.ends_with("step 1999\n"));
}

TEST_F(PingerTest, AServiceAnsweringFiveHundredIsTriedAgain) {
  PingService service(2);
  ASSERT_TRUE(pinger(service.url(), 2).start("run"));
  EXPECT_EQ(service.pings.size(), 3U);
  EXPECT_EQ(sleeper_.sleeps.size(), 2U);
}

TEST_F(PingerTest, AServiceThatIsDownGivesAnErrorAfterTheRetriesWithoutTheUrl) {
  const std::string url = "http://127.0.0.1:" + std::to_string(test::unused_port()) + "/" + check_uuid;
  auto failed = pinger(url, 2).finish("run", 0, "log\n");
  ASSERT_FALSE(failed);
  EXPECT_EQ(sleeper_.sleeps.size(), 2U) << "two retries after the first attempt";
  // The URL is the check's key: it stays out of messages.
  EXPECT_THAT(failed.error().message, Not(HasSubstr(check_uuid)));
  EXPECT_THAT(failed.error().message, HasSubstr("ping success"));
}

TEST_F(PingerTest, WithoutAUrlNothingIsSent) {
  auto pings = pinger("");
  EXPECT_FALSE(pings.enabled());
  EXPECT_TRUE(pings.start("run"));
  EXPECT_TRUE(sleeper_.sleeps.empty());
}

} // namespace
} // namespace cwb::ping
