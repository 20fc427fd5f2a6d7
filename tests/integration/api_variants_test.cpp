// The backup and the restore end to end against the variations of Connectware's API that its docs allow
// (tests/emulator/faults.hpp: `variant`): docs, nulls (every field null before the first backup of a fresh
// installation, other spellings, unknown nested fields, 200 + JSON answers, other wordings) and terse
// (fields missing, numeric times, no restore object yet). Our emulator and our client grew up together;
// these keep the client honest about the whole range.

#include "integration/support/restore_fixture.hpp"

#include <gmock/gmock.h>

namespace cwb::integration {
namespace {

using testing::HasSubstr;
using Containers = test::EmulatorContainers;

class ApiVariant : public RestoreTest, public ::testing::WithParamInterface<std::string> {
protected:
  /// A fresh installation that never made a backup (nulls: null fields everywhere), answering in this
  /// test's variant. The other variants reuse the suite's installation: a restart costs seconds.
  void fresh_installation_in_variant() {
    if (GetParam() == "nulls") {
      auto restarted = world().restart_connectware();
      ASSERT_TRUE(restarted) << restarted.error().message;
      hook_env_["CONNECTWARE_URL"] = world().connectware().base_url();
      hook_env_["CONNECTWARE_CA_FILE"] = world().connectware().ca_file().string();
      auto status = maintenance_status(world().connectware().base_url(), world().connectware().ca_file());
      ASSERT_TRUE(status);
      ASSERT_TRUE(status->is_object());
    }
    set_faults({{"variant", GetParam()}});
    if (GetParam() == "nulls") {
      auto status = maintenance_status(world().connectware().base_url(), world().connectware().ca_file());
      ASSERT_TRUE(status);
      ASSERT_TRUE(status->at("backup").at("id").is_null()) << "not a fresh installation: " << status->dump();
    }
  }
};

TEST_P(ApiVariant, TheFirstBackupOfAFreshInstallationAndItsRestoreWork) {
  fresh_installation_in_variant();
  if (HasFatalFailure()) return;
  const auto state_a = live_state();
  const auto snapshot = back_up({{"CONNECTWARE_QUIESCE", "pause"}});
  EXPECT_EQ(status().value("success", false), true) << status().dump();
  change_everything();
  ASSERT_NE(live_state(), state_a);

  const auto outcome = run_restore({"--snapshot", snapshot, "--yes"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.log();
  const auto restored = live_state();
  EXPECT_EQ(restored.database, state_a.database);
  EXPECT_EQ(restored.volume, state_a.volume);
  EXPECT_EQ(world().container_state(Containers::service_manager_container), "running");
}

TEST_P(ApiVariant, AServerSideRestoreFailureIsRolledBackHoweverItIsWorded) {
  set_faults({{"variant", GetParam()}});
  const auto snapshot = back_up();
  change_everything(VolumeChange::edit);
  const auto before = live_state();
  set_faults({{"variant", GetParam()}, {"fail_restore", "1"}});
  const auto outcome = run_restore({"--snapshot", snapshot, "--yes"});
  // A generic failure quoting version numbers (nulls) is no version refusal: rolled back, exit 14.
  EXPECT_EQ(outcome.exit_code, 14) << outcome.log();
  EXPECT_EQ(live_state(), before);
}

INSTANTIATE_TEST_SUITE_P(Variants, ApiVariant, ::testing::Values("docs", "nulls", "terse"));

// A refusal worded otherwise still names the last version able to restore: exit 13, nothing changed.
TEST_F(RestoreTest, ARefusalWordedDifferentlyIsStillRecognised) {
  const auto snapshot = back_up();
  change_everything(VolumeChange::edit);
  const auto before = live_state();
  set_faults({{"variant", "nulls"}, {"refuse_restore", "1.4.9"}});
  const auto outcome = run_restore({"--snapshot", snapshot, "--yes"});
  EXPECT_EQ(outcome.exit_code, 13) << outcome.log();
  EXPECT_THAT(outcome.stderr_text, HasSubstr("use Connectware 1.4.9 to restore it"));
  EXPECT_EQ(live_state(), before);
}

} // namespace
} // namespace cwb::integration
