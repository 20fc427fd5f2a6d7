#include "restic/failure.hpp"

#include "util/url_credentials.hpp"

#include <array>
#include <vector>

namespace cwb::restic {
namespace {

struct Pattern {
  Failure failure;
  std::string_view text;
};

// Order matters: an unreachable backend also prints "Is there a repository at the following location?",
// so transport errors are looked for first.
constexpr std::array patterns{
    Pattern{Failure::unreachable_backend, "connection refused"},
    Pattern{Failure::unreachable_backend, "no such host"},
    Pattern{Failure::unreachable_backend, "x509:"},
    Pattern{Failure::unreachable_backend, "tls:"},
    Pattern{Failure::unreachable_backend, "i/o timeout"},
    Pattern{Failure::unreachable_backend, "network is unreachable"},
    Pattern{Failure::unreachable_backend, "connection reset by peer"},
    Pattern{Failure::wrong_password, "wrong password or no key found"},
    Pattern{Failure::locked, "repository is already locked"},
    Pattern{Failure::locked, "unable to create lock"},
    Pattern{Failure::no_repository, "Is there a repository at the following location?"},
    Pattern{Failure::no_repository, "unable to open config file"},
    Pattern{Failure::no_repository, "repository does not exist"},
    Pattern{Failure::repository_exists, "config file already exists"},
    Pattern{Failure::snapshot_not_found, "no matching ID found"},
    Pattern{Failure::snapshot_not_found, "no snapshot found"},
};

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
    text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto line = trim(text.substr(0, end));
    if (!line.empty()) lines.push_back(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

std::string_view without_fatal(std::string_view line) {
  constexpr std::string_view prefix = "Fatal: ";
  if (line.starts_with(prefix)) line.remove_prefix(prefix.size());
  return line;
}

// The part of a transport error line worth showing: Go prints "... Head \"url\": dial tcp ...: connect:
// connection refused"; the text from "dial tcp" (or "x509:"/"tls:"/"lookup") on says what happened.
std::string transport_detail(std::string_view line) {
  for (const std::string_view marker : {"dial tcp", "lookup ", "x509:", "tls:"})
    if (const auto at = line.find(marker); at != std::string_view::npos) return std::string(line.substr(at));
  return std::string(without_fatal(line));
}

// The line restic explains itself in: its "Fatal:" line, else the first line.
std::string summary_line(const std::vector<std::string_view>& lines) {
  for (const auto line : lines)
    if (line.starts_with("Fatal: ")) return std::string(without_fatal(line));
  return lines.empty() ? std::string("no error output") : std::string(lines.front());
}

std::string message_for(Failure failure, std::string_view matched_line, const std::vector<std::string_view>& lines,
                        const util::ExitStatus& status, const FailureContext& context) {
  const std::string prefix = "restic " + context.operation + ": ";
  switch (failure) {
  case Failure::wrong_password:
    return prefix + "wrong repository password for " + context.repository + " (" + context.password_source + ")";
  case Failure::no_repository:
    return prefix + "no repository at " + context.repository + " (not initialised, or a wrong location)";
  case Failure::locked:
    return prefix + "repository " + context.repository + " is locked by another process (" +
           std::string(without_fatal(matched_line)) + ")";
  case Failure::unreachable_backend:
    return prefix + "repository backend of " + context.repository + " unreachable: " + transport_detail(matched_line);
  case Failure::incomplete_snapshot:
    return prefix + "incomplete snapshot in " + context.repository + ": some source files could not be read";
  case Failure::snapshot_not_found:
    return prefix + "snapshot not found in " + context.repository + ": " + std::string(without_fatal(matched_line));
  case Failure::repository_exists: return prefix + "a repository already exists at " + context.repository;
  case Failure::other: break;
  }
  return prefix + "failed (" + status.describe() + ") on " + context.repository + ": " + summary_line(lines);
}

} // namespace

const char* to_string(Failure failure) noexcept {
  switch (failure) {
  case Failure::wrong_password: return "wrong_password";
  case Failure::no_repository: return "no_repository";
  case Failure::locked: return "locked";
  case Failure::unreachable_backend: return "unreachable_backend";
  case Failure::incomplete_snapshot: return "incomplete_snapshot";
  case Failure::snapshot_not_found: return "snapshot_not_found";
  case Failure::repository_exists: return "repository_exists";
  case Failure::other: return "other";
  }
  return "other";
}

Cause to_cause(Failure failure) noexcept {
  switch (failure) {
  case Failure::wrong_password: return Cause::restic_wrong_password;
  case Failure::no_repository: return Cause::restic_no_repository;
  case Failure::locked: return Cause::restic_locked;
  case Failure::unreachable_backend: return Cause::restic_unreachable_backend;
  case Failure::incomplete_snapshot: return Cause::restic_incomplete_snapshot;
  case Failure::snapshot_not_found: return Cause::restic_snapshot_not_found;
  case Failure::repository_exists: return Cause::restic_repository_exists;
  case Failure::other: return Cause::none;
  }
  return Cause::none;
}

Failure failure_of(const Error& error) noexcept {
  for (const auto failure :
       {Failure::wrong_password, Failure::no_repository, Failure::locked, Failure::unreachable_backend,
        Failure::incomplete_snapshot, Failure::snapshot_not_found, Failure::repository_exists})
    if (error.cause == to_cause(failure)) return failure;
  return Failure::other;
}

ClassifiedFailure classify_failure(const util::ExitStatus& status, std::string_view stderr_text,
                                   const FailureContext& context) {
  const auto lines = lines_of(stderr_text);
  auto classified = [&](Failure failure, std::string_view matched_line) {
    return ClassifiedFailure{
        failure,
        Error{ErrorKind::restic, message_for(failure, matched_line, lines, status, context), to_cause(failure)}};
  };
  if (status.timed_out || status.signal || !status.code) return classified(Failure::other, {});

  // Exit codes that say it all (3 in every version, 10-12 from restic 0.16 on).
  switch (*status.code) {
  case 3: return classified(Failure::incomplete_snapshot, {});
  case 10: return classified(Failure::no_repository, {});
  case 11: {
    for (const auto line : lines)
      if (line.find("locked") != std::string_view::npos) return classified(Failure::locked, line);
    return classified(Failure::locked, "repository is already locked");
  }
  case 12: return classified(Failure::wrong_password, {});
  default: break;
  }

  for (const auto& pattern : patterns)
    for (const auto line : lines)
      if (line.find(pattern.text) != std::string_view::npos) return classified(pattern.failure, line);
  return classified(Failure::other, {});
}

std::string redact_repository(std::string_view repository) {
  return util::mask_url_credentials(repository);
}

} // namespace cwb::restic
