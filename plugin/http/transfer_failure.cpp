#include "http/transfer_failure.hpp"

namespace cwb::http {

std::string transfer_failure_tag(TransferFailure failure) {
  return std::string("transfer failed (") + transfer_failure_name(failure) + ")";
}

std::optional<TransferFailure> transfer_failure_of(const Error& error) {
  switch (error.cause) {
  case Cause::connect:
  case Cause::timeout:
  case Cause::stalled:
  case Cause::tls:
  case Cause::truncated:
  case Cause::receive:
  case Cause::send:
  case Cause::local_io:
  case Cause::interrupted:
  case Cause::protocol: return error.cause;
  default: return std::nullopt;
  }
}

bool is_transient(TransferFailure failure) noexcept {
  switch (failure) {
  case Cause::connect:
  case Cause::timeout:
  case Cause::stalled:
  case Cause::truncated:
  case Cause::receive:
  case Cause::send: return true;
  default: return false;
  }
}

} // namespace cwb::http
