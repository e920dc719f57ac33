// SHA-256 of buffers and files (OpenSSL EVP underneath), as lowercase hex.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

namespace hpcnn {

/// Incremental SHA-256; move-only (owns an OpenSSL digest context).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::span<const uint8_t> bytes);
  /// Returns the digest as 64 hex characters; the object can not be updated afterwards.
  std::string hex_digest();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(std::span<const uint8_t> bytes);
std::string sha256_file(const std::filesystem::path& path);

}  // namespace hpcnn
