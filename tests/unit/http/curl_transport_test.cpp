#include "http/curl_transport.hpp"
#include "http/transfer_failure.hpp"
#include "util/cancellation.hpp"
#include "util/sha256.hpp"

#include "support/loopback_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <signal.h>

namespace cwb::http {
namespace {

using test::LoopbackServer;

std::string pattern(std::size_t size) {
  std::string data(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    data[i] = static_cast<char>((i * 131 + i / 7) & 0xFF);
  return data;
}

util::TemporaryDirectory temp_dir() {
  auto dir = util::TemporaryDirectory::create({}, "cwb-http-test-");
  EXPECT_TRUE(dir);
  return std::move(*dir);
}

Request get(std::string url) {
  Request request;
  request.url = std::move(url);
  return request;
}

// Returns `request` after `change` (GCC 12 warns about designated initializers that skip members).
template <typename Change> Request with(Request request, Change change) {
  change(request);
  return request;
}

CurlTransportOptions trusting(const std::filesystem::path& ca_file) {
  CurlTransportOptions options;
  options.tls.ca_file = ca_file;
  return options;
}

CurlTransportOptions insecure() {
  CurlTransportOptions options;
  options.tls.verification = TlsVerification::insecure;
  return options;
}

class CurlTransportTls : public ::testing::Test {
protected:
  static void SetUpTestSuite() { certificate_ = test::TestCertificate::create().release(); }
  static void TearDownTestSuite() {
    delete certificate_;
    certificate_ = nullptr;
  }
  std::unique_ptr<LoopbackServer> start_tls_server() {
    auto server = std::make_unique<httplib::SSLServer>(certificate_->cert.c_str(), certificate_->key.c_str());
    server->Get("/hello", [](const httplib::Request&, httplib::Response& res) { res.set_content("hi", "text/plain"); });
    return std::make_unique<LoopbackServer>(std::move(server));
  }
  static test::TestCertificate* certificate_;
};
test::TestCertificate* CurlTransportTls::certificate_ = nullptr;

TEST_F(CurlTransportTls, VerifiesTheServerAgainstTheGivenCaFile) {
  ASSERT_NE(certificate_, nullptr);
  auto server = start_tls_server();
  CurlTransport transport(trusting(certificate_->cert));
  auto response = transport.perform(get(server->base_url(true) + "/hello"));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hi");
}

TEST_F(CurlTransportTls, RefusesASelfSignedServerWithoutTheCaFileAndHintsAtTheOption) {
  ASSERT_NE(certificate_, nullptr);
  auto server = start_tls_server();
  CurlTransport transport;
  auto response = transport.perform(with(get(server->base_url(true) + "/hello"),
                                         [](Request& r) { r.auth = BearerAuth{"token-that-must-not-leak"}; }));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, ErrorKind::unreachable);
  EXPECT_EQ(transfer_failure_of(response.error()), TransferFailure::tls);
  EXPECT_NE(response.error().message.find("CA file"), std::string::npos) << response.error().message;
  EXPECT_EQ(response.error().message.find("token-that-must-not-leak"), std::string::npos);
}

TEST_F(CurlTransportTls, InsecureModeAcceptsAnUnknownCertificate) {
  ASSERT_NE(certificate_, nullptr);
  auto server = start_tls_server();
  CurlTransport transport(insecure());
  auto response = transport.perform(get(server->base_url(true) + "/hello"));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, "hi");
}

TEST(CurlTransport, SendsBasicCredentials) {
  auto server = std::make_unique<httplib::Server>();
  std::string seen;
  server->Get("/x", [&](const httplib::Request& req, httplib::Response& res) {
    seen = req.get_header_value("Authorization");
    res.status = 204;
  });
  LoopbackServer loopback(std::move(server));
  CurlTransport transport;
  auto response = transport.perform(with(get(loopback.base_url() + "/x"), [](Request& r) {
    r.auth = BasicAuth{"admin", "s3cret"};
  }));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 204);
  EXPECT_EQ(seen, "Basic YWRtaW46czNjcmV0"); // base64("admin:s3cret")
}

TEST(CurlTransport, SendsABearerToken) {
  auto server = std::make_unique<httplib::Server>();
  std::string seen;
  server->Get("/x", [&](const httplib::Request& req, httplib::Response& res) {
    seen = req.get_header_value("Authorization");
    res.set_content("{}", "application/json");
  });
  LoopbackServer loopback(std::move(server));
  CurlTransport transport;
  auto response =
      transport.perform(with(get(loopback.base_url() + "/x"), [](Request& r) { r.auth = BearerAuth{"eyJ.abc.def"}; }));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(seen, "Bearer eyJ.abc.def");
}

TEST(CurlTransport, HttpErrorStatusesAreResponsesNotErrors) {
  auto server = std::make_unique<httplib::Server>();
  server->Get("/missing", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("not here", "text/plain");
  });
  LoopbackServer loopback(std::move(server));
  CurlTransport transport;
  auto response = transport.perform(get(loopback.base_url() + "/missing"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->body, "not here");
  EXPECT_EQ(response->header("content-type"), "text/plain");
}

TEST(CurlTransport, RefusedConnectionIsUnreachableAndNamesTheUrlWithoutCredentials) {
  const auto port = test::unused_port();
  CurlTransport transport;
  auto response = transport.perform(
      with(get("http://user:urlpass@127.0.0.1:" + std::to_string(port) + "/api?apiToken=abc123"), [](Request& r) {
        r.auth = BasicAuth{"admin", "hunter2"};
      }));
  ASSERT_FALSE(response);
  const auto& message = response.error().message;
  EXPECT_EQ(response.error().kind, ErrorKind::unreachable);
  EXPECT_EQ(transfer_failure_of(response.error()), TransferFailure::connect);
  EXPECT_NE(message.find("127.0.0.1:" + std::to_string(port) + "/api"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  EXPECT_EQ(message.find("urlpass"), std::string::npos) << message;
  EXPECT_EQ(message.find("abc123"), std::string::npos) << message;
}

TEST(CurlTransport, FollowsRedirectsWhenAsked) {
  auto server = std::make_unique<httplib::Server>();
  server->Get("/old", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/new", 301); });
  server->Get("/new", [](const httplib::Request&, httplib::Response& res) { res.set_content("moved", "text/plain"); });
  LoopbackServer loopback(std::move(server));
  CurlTransport transport;
  auto followed =
      transport.perform(with(get(loopback.base_url() + "/old"), [](Request& r) { r.redirects = Redirects::follow; }));
  ASSERT_TRUE(followed);
  EXPECT_EQ(followed->status, 200);
  EXPECT_EQ(followed->body, "moved");
  EXPECT_EQ(followed->effective_url, loopback.base_url() + "/new");
  auto not_followed = transport.perform(get(loopback.base_url() + "/old"));
  ASSERT_TRUE(not_followed);
  EXPECT_EQ(not_followed->status, 301);
}

TEST(CurlTransport, PostsAJsonBodyWithHeaders) {
  auto server = std::make_unique<httplib::Server>();
  std::string body, type;
  server->Post("/login", [&](const httplib::Request& req, httplib::Response& res) {
    body = req.body;
    type = req.get_header_value("Content-Type");
    res.status = 201;
  });
  LoopbackServer loopback(std::move(server));
  CurlTransport transport;
  auto response = transport.perform(with(get(loopback.base_url() + "/login"), [](Request& r) {
    r.method = "POST";
    r.headers = {{"Content-Type", "application/json"}};
    r.body = R"({"a":1})";
  }));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(body, R"({"a":1})");
  EXPECT_EQ(type, "application/json");
}

TEST(CurlTransport, StreamsADownloadToAFileWithItsSizeAndSha256) {
  const auto data = pattern(3 * 1024 * 1024 + 17);
  auto server = std::make_unique<httplib::Server>();
  server->Get("/archive",
              [&](const httplib::Request&, httplib::Response& res) { res.set_content(data, "application/gzip"); });
  LoopbackServer loopback(std::move(server));
  auto dir = temp_dir();
  const auto target = dir.path() / "db.tgz";
  std::uint64_t last_done = 0;
  CurlTransport transport;
  auto response = transport.perform(with(get(loopback.base_url() + "/archive"), [&](Request& r) {
    r.download_to = target;
    r.progress = [&](std::uint64_t done, std::uint64_t) { last_done = done; };
  }));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(response->body.empty());
  EXPECT_EQ(response->bytes, data.size());
  EXPECT_EQ(response->sha256, util::sha256_hex(data));
  EXPECT_EQ(util::sha256_file(target).value_or(""), util::sha256_hex(data));
  EXPECT_EQ(last_done, data.size());
}

TEST(CurlTransport, KeepsAnErrorPageOutOfTheDownloadFile) {
  auto server = std::make_unique<httplib::Server>();
  server->Get("/archive", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("<html>no backup</html>", "text/html");
  });
  LoopbackServer loopback(std::move(server));
  auto dir = temp_dir();
  CurlTransport transport;
  auto response = transport.perform(
      with(get(loopback.base_url() + "/archive"), [&](Request& r) { r.download_to = dir.path() / "db.tgz"; }));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->body, "<html>no backup</html>");
  EXPECT_TRUE(response->sha256.empty());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "db.tgz"));
}

TEST(CurlTransport, TruncatedDownloadIsAClassifiedHttpErrorAndLeavesNoFile) {
  auto server = std::make_unique<httplib::Server>();
  server->Get("/archive", [](const httplib::Request&, httplib::Response& res) {
    // Promise 1 MiB, send 64 KiB, then hang up.
    res.set_content_provider(1024 * 1024, "application/gzip",
                             [](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                               if (offset >= 64 * 1024) return false;
                               const std::string chunk(64 * 1024, 'x');
                               return sink.write(chunk.data(), chunk.size());
                             });
  });
  LoopbackServer loopback(std::move(server));
  auto dir = temp_dir();
  CurlTransport transport;
  auto response = transport.perform(
      with(get(loopback.base_url() + "/archive"), [&](Request& r) { r.download_to = dir.path() / "db.tgz"; }));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, ErrorKind::http);
  EXPECT_EQ(transfer_failure_of(response.error()), TransferFailure::truncated) << response.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "db.tgz"));
}

TEST(CurlTransport, StalledDownloadFailsOnTheLowSpeedLimit) {
  std::atomic<bool> stop{false};
  auto server = std::make_unique<httplib::Server>();
  server->Get("/archive", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(1024 * 1024, "application/gzip",
                             [&](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                               if (offset == 0) return sink.write("abcd", 4);
                               // Stalled far longer than the 1 s limit (10 s, until the client gave up):
                               // a server that closed first would make a truncated download instead, which
                               // a loaded machine could otherwise see.
                               for (int i = 0; i < 500 && !stop; ++i)
                                 std::this_thread::sleep_for(std::chrono::milliseconds(20));
                               return false;
                             });
  });
  LoopbackServer loopback(std::move(server));
  auto dir = temp_dir();
  CurlTransport transport;
  auto response = transport.perform(with(get(loopback.base_url() + "/archive"), [&](Request& r) {
    r.download_to = dir.path() / "db.tgz";
    r.timeouts.low_speed_bytes = 100;
    r.timeouts.low_speed_time = std::chrono::seconds(1);
  }));
  stop = true;
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, ErrorKind::unreachable);
  EXPECT_EQ(transfer_failure_of(response.error()), TransferFailure::stalled) << response.error().message;
}

TEST(CurlTransport, CancellationAbortsASlowDownload) {
  std::atomic<bool> stop{false};
  auto server = std::make_unique<httplib::Server>();
  server->Get("/archive", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/gzip", [&](std::size_t, httplib::DataSink& sink) {
      if (stop) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return sink.write("slow", 4);
    });
  });
  LoopbackServer loopback(std::move(server));
  auto dir = temp_dir();
  CurlTransport transport;
  std::thread canceller([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    util::request_cancellation(SIGTERM);
  });
  const auto start = std::chrono::steady_clock::now();
  auto response = transport.perform(
      with(get(loopback.base_url() + "/archive"), [&](Request& r) { r.download_to = dir.path() / "db.tgz"; }));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  canceller.join();
  util::reset_cancellation();
  stop = true;
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, ErrorKind::interrupted);
  EXPECT_EQ(transfer_failure_of(response.error()), TransferFailure::interrupted);
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(CurlTransport, UploadsAFileAsMultipartIntact) {
  const auto data = pattern(2 * 1024 * 1024 + 5);
  auto dir = temp_dir();
  const auto source = dir.path() / "upload.tgz";
  {
    std::ofstream out(source, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  auto server = std::make_unique<httplib::Server>();
  std::string received_sha, received_name;
  bool has_field = false;
  server->Post("/restore", [&](const httplib::Request& req, httplib::Response& res) {
    has_field = req.has_file("file");
    if (has_field) {
      const auto file = req.get_file_value("file");
      received_sha = util::sha256_hex(file.content);
      received_name = file.filename;
    }
    res.status = 202;
  });
  LoopbackServer loopback(std::move(server));
  std::uint64_t last_done = 0;
  CurlTransport transport;
  auto response = transport.perform(with(get(loopback.base_url() + "/restore"), [&](Request& r) {
    r.method = "POST";
    r.upload = MultipartFile{"file", source, "db.tgz", "application/gzip"};
    r.progress = [&](std::uint64_t done, std::uint64_t) { last_done = done; };
  }));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 202);
  EXPECT_TRUE(has_field);
  EXPECT_EQ(received_sha, util::sha256_hex(data));
  EXPECT_EQ(received_name, "db.tgz");
  EXPECT_GE(last_done, data.size());
}

TEST(CurlTransport, UploadOfAMissingFileIsAStagingError) {
  CurlTransport transport;
  auto response = transport.perform(with(get("http://127.0.0.1:1/restore"), [](Request& r) {
    r.method = "POST";
    r.upload = MultipartFile{"file", "/nonexistent/cwb/db.tgz", "", "application/gzip"};
  }));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, ErrorKind::staging_io);
  EXPECT_NE(response.error().message.find("/nonexistent/cwb/db.tgz"), std::string::npos);
}

TEST(RedactUrl, RemovesUserInfoAndTokenValues) {
  EXPECT_EQ(redact_url("https://admin:pw@host:443/api/x?apiToken=abc&x=1"),
            "https://host:443/api/x?apiToken=********&x=1");
  EXPECT_EQ(redact_url("http://host/path"), "http://host/path");
}

TEST(TransferFailure, IsCarriedAsTheErrorsCauseNotReadFromItsText) {
  const Error error{ErrorKind::http, "GET x: partial", TransferFailure::truncated};
  EXPECT_EQ(transfer_failure_of(error), TransferFailure::truncated);
  EXPECT_EQ(transfer_failure_of(error.with_context("downloading")), TransferFailure::truncated);
  // A message that merely quotes a tag (a server's text, say) carries no cause.
  const Error quoted{ErrorKind::http, "GET x: " + transfer_failure_tag(TransferFailure::truncated)};
  EXPECT_EQ(transfer_failure_of(quoted), std::nullopt);
  EXPECT_EQ(transfer_failure_of(Error{ErrorKind::http, "HTTP 500"}), std::nullopt);
}

} // namespace
} // namespace cwb::http
