#pragma once
// Retries with exponential backoff around a Transport. What is retried depends on whether repeating the
// request is safe: an idempotent request (GET, or an upload the server would reject twice anyway) is
// repeated after transient transfer failures and 5xx answers; a non-idempotent one (POST that starts an
// operation) only when the connection could not even be made, so the server cannot have acted on it.

#include "http/clock.hpp"
#include "http/transport.hpp"

#include <chrono>
#include <cstdint>

namespace cwb::http {

struct RetryPolicy {
  int max_attempts = 4; // including the first; 1 disables retries
  std::chrono::milliseconds initial_delay{500};
  double multiplier = 2.0;
  std::chrono::milliseconds max_delay{10'000};
  /// Each delay is scaled by a factor drawn from [1 - jitter, 1 + jitter]; 0 keeps delays exact.
  double jitter = 0.0;
  /// Seeds the jitter's generator, so tests are deterministic; 0 seeds from std::random_device.
  std::uint64_t jitter_seed = 0;
};

enum class Idempotency { idempotent, non_idempotent };

/// Returns the delay before attempt `attempt + 1` (attempt counts from 1), without jitter.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int attempt);

/// Performs `request`, retrying per `policy`: for an idempotent request after transient transfer failures
/// (connect, timeout, stalled, truncated, receive, send) and 5xx statuses; for a non-idempotent one only
/// after connect failures. Never retries 4xx, TLS failures, local I/O errors or interruptions. Returns the
/// last response (a 5xx after the last attempt is a Response, not an Error) or the last error. Errors: those
/// of Transport::perform; interrupted when the sleeper is interrupted.
Result<Response> perform_with_retry(Transport& transport, const Request& request, const RetryPolicy& policy,
                                    Sleeper& sleeper, Idempotency idempotency = Idempotency::idempotent);

} // namespace cwb::http
