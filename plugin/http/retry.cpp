#include "http/retry.hpp"

#include "http/transfer_failure.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace cwb::http {

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int attempt) {
  const double factor = std::pow(std::max(policy.multiplier, 1.0), std::max(attempt - 1, 0));
  const double delay = static_cast<double>(policy.initial_delay.count()) * factor;
  const double capped = std::min(delay, static_cast<double>(policy.max_delay.count()));
  return std::chrono::milliseconds(static_cast<std::int64_t>(capped));
}

namespace {

bool worth_retrying(const Error& error, Idempotency idempotency) {
  const auto failure = transfer_failure_of(error);
  if (!failure) return false;
  if (idempotency == Idempotency::non_idempotent) return *failure == TransferFailure::connect;
  return is_transient(*failure);
}

} // namespace

Result<Response> perform_with_retry(Transport& transport, const Request& request, const RetryPolicy& policy,
                                    Sleeper& sleeper, Idempotency idempotency) {
  std::mt19937_64 generator(policy.jitter_seed != 0 ? policy.jitter_seed : std::random_device{}());
  std::uniform_real_distribution<double> spread(-1.0, 1.0);
  const int attempts = std::max(policy.max_attempts, 1);
  for (int attempt = 1;; ++attempt) {
    auto result = transport.perform(request);
    const bool retry = result ? (result->status >= 500 && idempotency == Idempotency::idempotent)
                              : worth_retrying(result.error(), idempotency);
    if (!retry || attempt >= attempts) return result;
    auto delay = backoff_delay(policy, attempt);
    if (policy.jitter > 0.0) {
      const double factor = 1.0 + std::clamp(policy.jitter, 0.0, 1.0) * spread(generator);
      delay = std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(delay.count()) * factor));
    }
    CWB_TRY(sleeper.sleep_for(delay));
  }
}

} // namespace cwb::http
