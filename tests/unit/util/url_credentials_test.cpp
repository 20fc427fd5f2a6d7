#include "util/url_credentials.hpp"

#include <gtest/gtest.h>

namespace cwb::util {
namespace {

TEST(MaskUrlCredentials, MasksThePasswordAndKeepsTheUserAndHost) {
  EXPECT_EQ(mask_url_credentials("https://user:pw@host:8443/path"), "https://user:***@host:8443/path");
  EXPECT_EQ(mask_url_credentials("s3:https://KEY:SECRET@minio.local/bucket"), "s3:https://KEY:***@minio.local/bucket");
  EXPECT_EQ(mask_url_credentials("rest:https://user:pw@host/"), "rest:https://user:***@host/");
  EXPECT_EQ(mask_url_credentials("tcp://docker:pw@10.0.0.1:2376"), "tcp://docker:***@10.0.0.1:2376");
}

TEST(MaskUrlCredentials, AUserWithoutPasswordIsMaskedBecauseThatFormCarriesTokens) {
  EXPECT_EQ(mask_url_credentials("https://ghp_token123@host/repo"), "https://***@host/repo");
}

TEST(MaskUrlCredentials, APasswordContainingAtOrColonIsMaskedWhole) {
  EXPECT_EQ(mask_url_credentials("https://user:p@ss:w0rd@host/x"), "https://user:***@host/x");
}

TEST(MaskUrlCredentials, EveryUrlInsideProseOrJsonIsMasked) {
  EXPECT_EQ(mask_url_credentials(R"(cannot reach https://a:one@h1/ and "rest:http://b:two@h2:8000/r" now)"),
            R"(cannot reach https://a:***@h1/ and "rest:http://b:***@h2:8000/r" now)");
}

TEST(MaskUrlCredentials, TextWithoutCredentialsIsUnchanged) {
  for (const char* text : {"", "plain text", "https://host/path@not-userinfo", "mailto:user@example.com",
                           "/var/backups/restic", "s3:https://minio.local/bucket", "a://"}) {
    EXPECT_EQ(mask_url_credentials(text), text) << text;
  }
}

} // namespace
} // namespace cwb::util
