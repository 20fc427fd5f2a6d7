#include "connectware/database_operations.hpp"
#include "connectware/maintenance_status.hpp"
#include "connectware/secret.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace cwb::connectware {
namespace {

TEST(MaintenanceStatus, AcceptsTheDocumentedSpellingSucceded) {
  auto status = parse_maintenance_status(
      R"({"running": false, "backup": {"succeded": true, "id": "1.0.73_2022-02-16T15:37:19.242Z"}})");
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_FALSE(status->running);
  ASSERT_TRUE(status->backup);
  EXPECT_EQ(status->backup->succeeded, true);
  EXPECT_EQ(status->backup->id, "1.0.73_2022-02-16T15:37:19.242Z");
  EXPECT_FALSE(status->restore);
}

TEST(MaintenanceStatus, AcceptsTheSpellingSucceeded) {
  auto status =
      parse_maintenance_status(R"({"running": true, "backup": {"succeeded": false, "message": "disk full"}})");
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->running);
  EXPECT_EQ(status->backup->succeeded, false);
  EXPECT_EQ(status->backup->message, "disk full");
  EXPECT_EQ(status->backup->id, "");
}

TEST(MaintenanceStatus, IgnoresUnknownFieldsAndKeepsThemInRaw) {
  auto status = parse_maintenance_status(
      R"({"running": false, "newField": [1,2], "restore": {"succeeded": true, "startedAt": "x", "id": "r1"}})");
  ASSERT_TRUE(status);
  EXPECT_FALSE(status->backup);
  ASSERT_TRUE(status->restore);
  EXPECT_EQ(status->restore->raw.at("startedAt"), "x");
  EXPECT_EQ(status->restore->id, "r1");
}

TEST(MaintenanceStatus, MissingOutcomeIsUnknownRatherThanFalse) {
  auto status = parse_maintenance_status(R"({"running": false, "backup": {"id": "a"}})");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->backup->succeeded, std::nullopt);
}

TEST(MaintenanceStatus, MalformedJsonIsAnErrorNotAnException) {
  auto status = parse_maintenance_status(R"({"running": fal)");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().kind, ErrorKind::malformed_response);
  EXPECT_NE(status.error().message.find("not JSON"), std::string::npos);
}

TEST(MaintenanceStatus, HtmlErrorPageIsQuotedInTheError) {
  auto status = parse_maintenance_status("<html>\n<body>502 Bad Gateway</body></html>");
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("<html> <body>502 Bad Gateway"), std::string::npos) << status.error().message;
}

TEST(MaintenanceStatus, MissingOrMistypedRunningIsAMalformedAnswerNamingTheField) {
  for (const char* body : {R"({"backup": {}})", R"({"running": "yes"})", R"({"running": null})"}) {
    auto status = parse_maintenance_status(body);
    ASSERT_FALSE(status) << body;
    EXPECT_EQ(status.error().kind, ErrorKind::malformed_response) << body;
    EXPECT_NE(status.error().message.find("\"running\""), std::string::npos) << status.error().message;
    EXPECT_NE(status.error().message.find(body), std::string::npos) << status.error().message;
  }
  auto array = parse_maintenance_status(R"([1,2])");
  ASSERT_FALSE(array);
  EXPECT_EQ(array.error().kind, ErrorKind::malformed_response);
}

TEST(MaintenanceStatus, NullFieldsBeforeTheFirstBackupAreEmpty) {
  auto status = parse_maintenance_status(
      R"({"running": false, "backup": {"succeded": null, "id": null, "message": null, "startedAt": null}, "restore": null})");
  ASSERT_TRUE(status) << status.error().message;
  ASSERT_TRUE(status->backup);
  EXPECT_EQ(status->backup->id, "");
  EXPECT_EQ(status->backup->message, "");
  EXPECT_EQ(status->backup->succeeded, std::nullopt);
  EXPECT_FALSE(status->restore);
}

TEST(MaintenanceStatus, NumbersWhereTextIsExpectedAreTakenAsText) {
  auto status = parse_maintenance_status(R"({"running": false, "backup": {"id": 7, "message": {"nested": 1}}})");
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(status->backup->id, "7");
  EXPECT_EQ(status->backup->message, "");
}

TEST(VersionNamedIn, FindsTheVersionAfterTheWordVersion) {
  EXPECT_EQ(version_named_in("Restore refused: this backup can be restored up to version 1.4.1 only"), "1.4.1");
  EXPECT_EQ(version_named_in("The last Connectware Version that can restore this file is v1.7.12."), "1.7.12");
  EXPECT_EQ(
      version_named_in("Restore refused: the database structure changed after version 1.10.2 of this backup file. "
                       "The last Connectware version that can restore this backup file is 1.4.9."),
      "1.4.9");
}

TEST(VersionNamedIn, FallsBackToAnyNumberWhenTheMessageTalksAboutVersions) {
  EXPECT_EQ(version_named_in("Incompatible version: use Connectware 1.5.0 to restore"), "1.5.0");
}

TEST(VersionRefusalIn, NeedsTheMessageToSayItIsARefusal) {
  EXPECT_EQ(version_refusal_in("Restore refused: the database structure changed after version 1.10.2 of this "
                               "backup file. The last Connectware version that can restore this backup file is 1.4.9."),
            "1.4.9");
  EXPECT_EQ(version_refusal_in("Incompatible backup file: use Connectware 1.5.0 to restore it"), "1.5.0");
  EXPECT_EQ(version_refusal_in("Rejected: this file can only be restored by Connectware up to version 1.4.1"), "1.4.1");
  // Generic failures that happen to quote a version: the restore may have started, so it is no refusal.
  EXPECT_EQ(version_refusal_in("Restore failed: pg_restore: error: server version 14.11.0; pg_restore version "
                               "15.4.0: aborting because of server version mismatch"),
            std::nullopt);
  EXPECT_EQ(version_refusal_in("Restore failed after 1.2.3 seconds: out of memory (version 1.10.2)"), std::nullopt);
}

TEST(VersionNamedIn, IgnoresMessagesWithoutVersions) {
  EXPECT_EQ(version_named_in("pg_restore failed: disk full"), std::nullopt);
  EXPECT_EQ(version_named_in("backup 1.0.73_2022 failed"), std::nullopt);
}

TEST(Secret, PrintsAsStars) {
  Secret secret("hunter2");
  std::ostringstream out;
  out << secret;
  EXPECT_EQ(out.str(), "********");
  EXPECT_EQ(to_string(secret), "********");
  EXPECT_EQ(secret.reveal(), "hunter2");
}

} // namespace
} // namespace cwb::connectware
