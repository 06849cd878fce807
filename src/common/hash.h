// Hash functions behind keys, namespace ids and checksums. Internal: the public names live in
// include/tw/block_key.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace tw {

// Incremental SHA-256 (OpenSSL), truncated to the first 16 bytes of the digest on Finish.
class Sha256Trunc128 {
 public:
  Sha256Trunc128();
  ~Sha256Trunc128();
  Sha256Trunc128(const Sha256Trunc128&) = delete;
  Sha256Trunc128& operator=(const Sha256Trunc128&) = delete;
  void Update(const void* data, size_t size);
  void Finish(uint8_t out[16]);

 private:
  void* ctx_;  // EVP_MD_CTX*; kept opaque so OpenSSL headers stay out of includers
};

// Incremental xxh3-128; the result is written in XXH128's canonical (big-endian) byte order.
class Xxh3Hash128 {
 public:
  Xxh3Hash128();
  ~Xxh3Hash128();
  Xxh3Hash128(const Xxh3Hash128&) = delete;
  Xxh3Hash128& operator=(const Xxh3Hash128&) = delete;
  void Update(const void* data, size_t size);
  void Finish(uint8_t out[16]);

 private:
  void* state_;  // XXH3_state_t*
};

// 64-bit checksum of a byte range (xxh3-64): for detecting corruption, not adversaries.
uint64_t Checksum64(const void* data, size_t size, uint64_t seed = 0);

}  // namespace tw
