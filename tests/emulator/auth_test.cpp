#include "auth.hpp"

#include <gtest/gtest.h>

namespace cwb::emulator {
namespace {

TEST(PathMatches, HashMatchesAnyNumberOfLevelsIncludingNone) {
  EXPECT_TRUE(path_matches("/api/maintenance/#", "/api/maintenance/db/backup"));
  EXPECT_TRUE(path_matches("/api/maintenance/#", "/api/maintenance"));
  EXPECT_TRUE(path_matches("/api/services/#", "/api/services/"));
  EXPECT_TRUE(path_matches("#", "/emulator/faults"));
  EXPECT_FALSE(path_matches("/api/maintenance/#", "/api/system/info"));
}

TEST(PathMatches, PlusMatchesExactlyOneLevel) {
  EXPECT_TRUE(path_matches("/api/+/info", "/api/system/info"));
  EXPECT_FALSE(path_matches("/api/+/info", "/api/system/x/info"));
  EXPECT_FALSE(path_matches("/api/+", "/api/system/info"));
  EXPECT_FALSE(path_matches("/api/system/info", "/api/system/info/more"));
}

TEST(Permission, ReadDoesNotGrantWriteButReadWriteGrantsBoth) {
  const Permission read{"/api/maintenance/#", "read"};
  const Permission both{"/api/maintenance/#", "readWrite"};
  EXPECT_TRUE(read.allows("/api/maintenance/db", Operation::read));
  EXPECT_FALSE(read.allows("/api/maintenance/db/backup", Operation::write));
  EXPECT_TRUE(both.allows("/api/maintenance/db/backup", Operation::write));
  EXPECT_EQ(operation_for_method("POST"), Operation::write);
  EXPECT_EQ(operation_for_method("GET"), Operation::read);
}

TEST(PasswordHash, DependsOnSaltAndPassword) {
  EXPECT_EQ(hash_password("salt", "admin"), hash_password("salt", "admin"));
  EXPECT_NE(hash_password("salt", "admin"), hash_password("pepper", "admin"));
  EXPECT_NE(hash_password("salt", "admin"), hash_password("salt", "admin2"));
  EXPECT_EQ(random_hex(16).size(), 32u);
}

TEST(Base64, DecodesPaddedText) {
  EXPECT_EQ(decode_base64("YWRtaW46YWRtaW4="), "admin:admin");
  EXPECT_EQ(decode_base64("YWI="), "ab");
  EXPECT_EQ(decode_base64("YWJj"), "abc");
  EXPECT_EQ(decode_base64("bad"), std::nullopt);
}

TEST(TokenSigner, VerifiesItsOwnTokenUntilItExpires) {
  const TokenSigner signer("secret");
  const auto now = std::chrono::system_clock::now();
  const auto token = signer.issue("backup", now + std::chrono::hours(1));
  EXPECT_EQ(signer.verify(token, now), "backup");
  EXPECT_EQ(signer.verify(token, now + std::chrono::hours(2)), std::nullopt);
}

TEST(TokenSigner, RejectsTokensSignedWithAnotherSecretOrAltered) {
  const auto now = std::chrono::system_clock::now();
  const auto token = TokenSigner("other").issue("admin", now + std::chrono::hours(1));
  EXPECT_EQ(TokenSigner("secret").verify(token, now), std::nullopt);
  auto altered = TokenSigner("secret").issue("admin", now + std::chrono::hours(1));
  altered[altered.find('.') + 2] ^= 1;
  EXPECT_EQ(TokenSigner("secret").verify(altered, now), std::nullopt);
  EXPECT_EQ(TokenSigner("secret").verify("garbage", now), std::nullopt);
}

} // namespace
} // namespace cwb::emulator
