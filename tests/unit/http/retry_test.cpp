#include "http/curl_transport.hpp"
#include "http/retry.hpp"
#include "http/transfer_failure.hpp"
#include "util/cancellation.hpp"

#include "support/loopback_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <signal.h>

namespace cwb::http {
namespace {

using namespace std::chrono_literals;
using test::FakeSleeper;
using test::LoopbackServer;

// A server whose /flaky answers `failures` times with `status`, then 200.
std::unique_ptr<LoopbackServer> flaky_server(std::atomic<int>& hits, int failures, int status) {
  auto server = std::make_unique<httplib::Server>();
  server->Get("/flaky", [&hits, failures, status](const httplib::Request&, httplib::Response& res) {
    if (++hits <= failures) {
      res.status = status;
      res.set_content("nope", "text/plain");
    } else {
      res.set_content("ok", "text/plain");
    }
  });
  return std::make_unique<LoopbackServer>(std::move(server));
}

RetryPolicy make_policy() {
  RetryPolicy policy;
  policy.max_attempts = 4;
  policy.initial_delay = 100ms;
  policy.multiplier = 2.0;
  policy.max_delay = 250ms;
  return policy;
}
const RetryPolicy policy = make_policy();

Request get(std::string url) {
  Request request;
  request.url = std::move(url);
  return request;
}
Request post(std::string url) {
  Request request = get(std::move(url));
  request.method = "POST";
  return request;
}
std::string refused_url() {
  return "http://127.0.0.1:" + std::to_string(test::unused_port()) + "/x";
}

TEST(Retry, RetriesA500WithGrowingDelaysUntilItSucceeds) {
  std::atomic<int> hits{0};
  auto server = flaky_server(hits, 3, 500);
  CurlTransport transport;
  FakeSleeper sleeper;
  auto response = perform_with_retry(transport, get(server->base_url() + "/flaky"), policy, sleeper);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(hits, 4);
  EXPECT_EQ(sleeper.sleeps, (std::vector<std::chrono::milliseconds>{100ms, 200ms, 250ms}));
}

TEST(Retry, GivesUpAfterMaxAttemptsAndReturnsTheLast5xx) {
  std::atomic<int> hits{0};
  auto server = flaky_server(hits, 100, 503);
  CurlTransport transport;
  FakeSleeper sleeper;
  auto response = perform_with_retry(transport, get(server->base_url() + "/flaky"), policy, sleeper);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(hits, 4);
  EXPECT_EQ(sleeper.sleeps.size(), 3u);
}

TEST(Retry, DoesNotRetry400Or404) {
  for (const int status : {400, 404}) {
    std::atomic<int> hits{0};
    auto server = flaky_server(hits, 100, status);
    CurlTransport transport;
    FakeSleeper sleeper;
    auto response = perform_with_retry(transport, get(server->base_url() + "/flaky"), policy, sleeper);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, status);
    EXPECT_EQ(hits, 1);
    EXPECT_TRUE(sleeper.sleeps.empty());
  }
}

TEST(Retry, RetriesARefusedConnectionThenReportsItUnreachable) {
  CurlTransport transport;
  FakeSleeper sleeper;
  auto response = perform_with_retry(transport, get(refused_url()), policy, sleeper);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, ErrorKind::unreachable);
  EXPECT_EQ(sleeper.sleeps, (std::vector<std::chrono::milliseconds>{100ms, 200ms, 250ms}));
}

TEST(Retry, NonIdempotentRequestIsNotRepeatedAfterA500) {
  std::atomic<int> hits{0};
  auto server = flaky_server(hits, 100, 500);
  CurlTransport transport;
  FakeSleeper sleeper;
  auto response =
      perform_with_retry(transport, get(server->base_url() + "/flaky"), policy, sleeper, Idempotency::non_idempotent);
  ASSERT_TRUE(response);
  EXPECT_EQ(hits, 1);
  EXPECT_EQ(response->status, 500);
}

TEST(Retry, NonIdempotentRequestIsRepeatedWhenTheConnectionWasRefused) {
  CurlTransport transport;
  FakeSleeper sleeper;
  auto response = perform_with_retry(transport, post(refused_url()), policy, sleeper, Idempotency::non_idempotent);
  ASSERT_FALSE(response);
  EXPECT_EQ(sleeper.sleeps.size(), 3u);
}

TEST(Retry, JitterIsDeterministicForASeedAndStaysWithinItsBounds) {
  RetryPolicy jittery;
  jittery.max_attempts = 3;
  jittery.initial_delay = 1000ms;
  jittery.max_delay = 10'000ms;
  jittery.jitter = 0.5;
  jittery.jitter_seed = 42;
  CurlTransport transport;
  const Request request = get(refused_url());
  FakeSleeper first, second;
  static_cast<void>(perform_with_retry(transport, request, jittery, first));
  static_cast<void>(perform_with_retry(transport, request, jittery, second));
  ASSERT_EQ(first.sleeps.size(), 2u);
  EXPECT_EQ(first.sleeps, second.sleeps);
  EXPECT_GE(first.sleeps[0], 500ms);
  EXPECT_LE(first.sleeps[0], 1500ms);
  EXPECT_GE(first.sleeps[1], 1000ms);
  EXPECT_LE(first.sleeps[1], 3000ms);
}

TEST(SystemSleeper, StopsEarlyWhenCancellationIsRequested) {
  util::request_cancellation(SIGINT);
  SystemSleeper sleeper;
  const auto start = std::chrono::steady_clock::now();
  auto result = sleeper.sleep_for(10s);
  util::reset_cancellation();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::interrupted);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

} // namespace
} // namespace cwb::http
