#pragma once
// Streaming SHA-256 (OpenSSL EVP), so files are hashed while they are copied or downloaded: one read
// per byte.

#include "core/error.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace cwb::util {

class Sha256 {
public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::string_view data);
  void update(const void* data, std::size_t size);
  /// Returns the lower-case hex digest; the object is reset afterwards.
  std::string finish_hex();

private:
  struct Context;
  std::unique_ptr<Context> context_;
};

/// Returns the hex SHA-256 of a file's contents. Errors: staging_io when it cannot be read.
Result<std::string> sha256_file(const std::filesystem::path& path);

/// Returns the hex SHA-256 of a string (tests and small payloads).
std::string sha256_hex(std::string_view data);

} // namespace cwb::util
