#include "restic/restic.hpp"
#include "util/text.hpp"

#include <nlohmann/json.hpp>

#include <sstream>

namespace cwb::restic {

Restic::Restic(ResticOptions options, util::ProcessRunner& runner, util::Environment base_environment)
    : options_(std::move(options)), runner_(runner), base_environment_(std::move(base_environment)) {}

util::ProcessOptions Restic::process_options(std::vector<std::string> arguments) const {
  util::ProcessOptions process;
  process.argv = {options_.binary};
  if (!options_.cacert.empty()) {
    process.argv.push_back("--cacert");
    process.argv.push_back(options_.cacert.string());
  }
  process.argv.insert(process.argv.end(), options_.extra_global_flags.begin(), options_.extra_global_flags.end());
  process.argv.insert(process.argv.end(), std::make_move_iterator(arguments.begin()),
                      std::make_move_iterator(arguments.end()));

  process.env = base_environment_;
  // A password or repository inherited from the caller's environment must not win over ours.
  for (const char* name : {"RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND", "RESTIC_REPOSITORY",
                           "RESTIC_REPOSITORY_FILE"})
    process.env.erase(name);
  for (const auto& [name, value] : options_.extra_environment)
    process.env[name] = value;
  if (!options_.repository.empty()) process.env["RESTIC_REPOSITORY"] = options_.repository;
  if (!options_.password_file.empty())
    process.env["RESTIC_PASSWORD_FILE"] = options_.password_file.string();
  else if (!options_.password.empty())
    process.env["RESTIC_PASSWORD"] = options_.password;
  process.timeout = options_.timeout;
  return process;
}

FailureContext Restic::failure_context(const std::string& operation) const {
  FailureContext context;
  context.operation = operation;
  context.repository = redact_repository(options_.repository);
  if (!options_.password_file.empty())
    context.password_source = "RESTIC_PASSWORD_FILE=" + options_.password_file.string();
  else if (!options_.password.empty())
    context.password_source = "RESTIC_PASSWORD from the environment";
  else
    context.password_source = "no password configured";
  return context;
}

Result<util::ProcessResult> Restic::run(const std::string& operation, std::vector<std::string> arguments,
                                        std::function<void(std::string_view)> on_stdout_line,
                                        std::function<void(std::string_view)> on_stderr_line) {
  auto process = process_options(std::move(arguments));
  process.on_stdout_line = std::move(on_stdout_line);
  std::string stderr_text;
  if (on_stderr_line) {
    process.on_stderr_line = [&stderr_text, &on_stderr_line](std::string_view line) {
      constexpr std::size_t kept_bytes = 64 * 1024; // enough for any Fatal line; a long error list is cut
      if (stderr_text.size() < kept_bytes) stderr_text.append(line).push_back('\n');
      on_stderr_line(line);
    };
  }
  auto result = runner_.run(process);
  if (!result) return fail(result.error().with_context("restic " + operation));
  if (on_stderr_line) result->stderr_text = std::move(stderr_text);
  if (!result->status.success()) {
    auto classified = classify_failure(result->status, result->stderr_text, failure_context(operation));
    return fail(std::move(classified.error));
  }
  return result;
}

Result<Version> Restic::version() {
  if (version_) return *version_;
  auto result = run("version", {"version"});
  if (!result) return fail(result.error());
  auto parsed = parse_version(result->stdout_text);
  if (parsed) version_ = *parsed;
  return parsed;
}

Features Restic::features() {
  const auto known = version();
  return known ? Features::of(*known) : Features{};
}

namespace {

// Flags every repository command gets: --retry-lock when this restic has it.
void add_lock_flags(std::vector<std::string>& arguments, const ResticOptions& options, const Features& features) {
  if (features.retry_lock && options.retry_lock.count() > 0)
    arguments.push_back("--retry-lock=" + std::to_string(options.retry_lock.count()) + "s");
}

} // namespace

Result<> Restic::init() {
  CWB_TRY(run("init", {"init"}));
  return {};
}

Result<BackupSummary> Restic::backup(const BackupRequest& request,
                                     const BackupStreamParser::ProgressCallback& on_progress) {
  if (request.paths.empty()) return fail(ErrorKind::usage, "restic backup: no paths to back up");
  std::vector<std::string> arguments{"backup", "--json"};
  add_lock_flags(arguments, options_, features());
  for (const auto& tag : request.tags)
    arguments.insert(arguments.end(), {"--tag", tag});
  if (!request.host.empty()) arguments.insert(arguments.end(), {"--host", request.host});
  for (const auto& exclude : request.excludes)
    arguments.insert(arguments.end(), {"--exclude", exclude});
  arguments.push_back("--");
  for (const auto& path : request.paths)
    arguments.push_back(path.string());

  BackupStreamParser parser(on_progress);
  // restic 0.14 prints its "error" messages on stderr, the rest on stdout: both go to the parser.
  const auto feed = [&parser](std::string_view line) { parser.feed_line(line); };
  auto result = run("backup", std::move(arguments), feed, feed);
  if (!result) {
    if (failure_of(result.error()) != Failure::incomplete_snapshot || parser.item_errors().empty())
      return fail(result.error());
    std::string items;
    for (const auto& item : parser.item_errors())
      items += (items.empty() ? "" : ", ") + item.item;
    std::string message = result.error().message + " (" + items + ")";
    if (parser.summary()) message += "; snapshot " + parser.summary()->snapshot_id + " was saved without them";
    return fail(Error{ErrorKind::restic, std::move(message), result.error().cause});
  }
  if (!parser.summary())
    return fail(ErrorKind::restic,
                "restic backup: finished without a summary line on " + redact_repository(options_.repository));
  return *parser.summary();
}

Result<std::vector<Snapshot>> Restic::snapshots(const std::vector<std::string>& tags, const std::string& host) {
  std::vector<std::string> arguments{"snapshots", "--json"};
  add_lock_flags(arguments, options_, features());
  // One --tag with a comma list means "has all of them"; repeated --tag would mean "any of them".
  if (!tags.empty()) arguments.insert(arguments.end(), {"--tag", util::join(tags, ",")});
  if (!host.empty()) arguments.insert(arguments.end(), {"--host", host});
  auto result = run("snapshots", std::move(arguments));
  if (!result) return fail(result.error());
  return parse_snapshots(result->stdout_text);
}

Result<Snapshot> Restic::find_snapshot(const std::string& id) {
  std::vector<std::string> arguments{"snapshots", "--json"};
  add_lock_flags(arguments, options_, features());
  arguments.insert(arguments.end(), {"--", id});
  auto result = run("snapshots", std::move(arguments));
  if (!result) return fail(result.error());
  auto snapshots = parse_snapshots(result->stdout_text);
  if (!snapshots) return fail(snapshots.error());
  // restic 0.14 prints `[]` and exits 0 for an unknown id, with "no matching ID found" on stderr.
  if (snapshots->empty()) {
    return fail(Error{ErrorKind::no_snapshot,
                      "restic: no snapshot " + id + " in " + redact_repository(options_.repository),
                      to_cause(Failure::snapshot_not_found)});
  }
  if (snapshots->size() > 1)
    return fail(ErrorKind::restic,
                "restic: snapshot id " + id + " is ambiguous in " + redact_repository(options_.repository));
  return std::move(snapshots->front());
}

Result<> Restic::restore(const std::string& snapshot, const std::filesystem::path& target,
                         const std::vector<std::string>& includes, Verify verify) {
  std::vector<std::string> arguments{"restore"};
  add_lock_flags(arguments, options_, features());
  arguments.insert(arguments.end(), {"--target", target.string()});
  for (const auto& include : includes)
    arguments.insert(arguments.end(), {"--include", include});
  if (verify == Verify::yes) arguments.push_back("--verify");
  arguments.insert(arguments.end(), {"--", snapshot});
  CWB_TRY(run("restore", std::move(arguments)));
  return {};
}

Result<ForgetResult> Restic::forget(const ForgetRequest& request) {
  // Without a keep rule restic forgets nothing (and says so); asking it anyway would hide a configuration slip.
  if (request.keep.empty()) return fail(ErrorKind::usage, "restic forget: no keep rule given");
  std::vector<std::string> arguments{"forget", "--json"};
  add_lock_flags(arguments, options_, features());
  if (!request.tags.empty()) arguments.insert(arguments.end(), {"--tag", util::join(request.tags, ",")});
  if (!request.host.empty()) arguments.insert(arguments.end(), {"--host", request.host});
  for (const auto& [rule, count] : request.keep)
    arguments.insert(arguments.end(), {"--keep-" + rule, std::to_string(count)});
  if (request.prune) arguments.push_back("--prune");
  auto result = run("forget", std::move(arguments));
  if (!result) return fail(result.error());
  // The groups come as one JSON line; with --prune the prune's own progress text follows on stdout.
  ForgetResult counted;
  std::istringstream lines(result->stdout_text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("[")) continue;
    const auto groups = nlohmann::json::parse(line, nullptr, false);
    if (groups.is_discarded() || !groups.is_array()) break;
    for (const auto& group : groups) {
      if (!group.is_object()) continue;
      for (const auto& [list, count] : {std::pair{"keep", &counted.kept}, std::pair{"remove", &counted.removed}})
        if (const auto found = group.find(list); found != group.end() && found->is_array()) *count += found->size();
    }
    return counted;
  }
  return fail(ErrorKind::restic,
              "restic forget: finished without its JSON list of groups on " + redact_repository(options_.repository));
}

Result<RawDataStats> Restic::stats_raw_data() {
  std::vector<std::string> arguments{"stats", "--json", "--mode", "raw-data"};
  add_lock_flags(arguments, options_, features());
  auto result = run("stats", std::move(arguments));
  if (!result) return fail(result.error());
  return parse_raw_data_stats(result->stdout_text);
}

Result<> Restic::check(const std::string& read_data_subset) {
  std::vector<std::string> arguments{"check"};
  add_lock_flags(arguments, options_, features());
  if (!read_data_subset.empty()) arguments.push_back("--read-data-subset=" + read_data_subset);
  CWB_TRY(run("check", std::move(arguments)));
  return {};
}

Result<> Restic::unlock() {
  CWB_TRY(run("unlock", {"unlock"}));
  return {};
}

Result<> Restic::add_tags(const std::string& snapshot, const std::vector<std::string>& tags) {
  if (tags.empty()) return {};
  std::vector<std::string> arguments{"tag"};
  add_lock_flags(arguments, options_, features());
  for (const auto& tag : tags) {
    arguments.push_back("--add");
    arguments.push_back(tag);
  }
  arguments.push_back(snapshot);
  CWB_TRY(run("tag", std::move(arguments)));
  return {};
}

} // namespace cwb::restic
