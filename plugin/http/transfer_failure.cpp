#include "http/transfer_failure.hpp"

#include <array>

namespace cwb::http {

namespace {
constexpr std::array all_failures{TransferFailure::connect, TransferFailure::timeout,   TransferFailure::stalled,
                                  TransferFailure::tls,     TransferFailure::truncated, TransferFailure::receive,
                                  TransferFailure::send,    TransferFailure::local_io,  TransferFailure::interrupted,
                                  TransferFailure::protocol};
} // namespace

const char* to_string(TransferFailure failure) noexcept {
  switch (failure) {
  case TransferFailure::connect: return "connect";
  case TransferFailure::timeout: return "timeout";
  case TransferFailure::stalled: return "stalled";
  case TransferFailure::tls: return "tls";
  case TransferFailure::truncated: return "truncated";
  case TransferFailure::receive: return "receive";
  case TransferFailure::send: return "send";
  case TransferFailure::local_io: return "local_io";
  case TransferFailure::interrupted: return "interrupted";
  case TransferFailure::protocol: return "protocol";
  }
  return "protocol";
}

std::string transfer_failure_tag(TransferFailure failure) {
  return std::string("transfer failed (") + to_string(failure) + ")";
}

std::optional<TransferFailure> transfer_failure_of(const Error& error) {
  for (const auto failure : all_failures) {
    if (error.message.find(transfer_failure_tag(failure)) != std::string::npos) return failure;
  }
  return std::nullopt;
}

bool is_transient(TransferFailure failure) noexcept {
  switch (failure) {
  case TransferFailure::connect:
  case TransferFailure::timeout:
  case TransferFailure::stalled:
  case TransferFailure::truncated:
  case TransferFailure::receive:
  case TransferFailure::send: return true;
  case TransferFailure::tls:
  case TransferFailure::local_io:
  case TransferFailure::interrupted:
  case TransferFailure::protocol: return false;
  }
  return false;
}

} // namespace cwb::http
