#pragma once
// Failures that happen before a backup run's pipeline starts (a configuration error, missing credentials,
// no repository) are failures of the run all the same: status.json and the metrics must not keep saying
// `success 1` from the last good run while nothing is backed up.

#include "config/command_line.hpp"
#include "config/config.hpp"
#include "core/error.hpp"
#include "util/subprocess.hpp"

namespace cwb::app {

/// Records `error` as a failed backup run in the configured status file and metrics file (the last
/// success carried over). A failure to write is logged, never returned: the error itself is what counts.
void record_failure_before_run(const config::Config& config, const Error& error);

/// The same when the configuration itself could not be resolved: status-file, state-dir and metrics-file
/// are taken from the command line or the environment as far as they were given, else the defaults.
void record_failure_without_config(const config::CommandLine& command_line, const util::Environment& environment,
                                   const Error& error);

} // namespace cwb::app
