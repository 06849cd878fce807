// Bounds-checked little-endian writer and reader for frame metadata.
//
// The reader works over untrusted bytes: every read checks the remaining length and, once one read
// fails, every later read fails too, so decoders check `ok()` once at the end instead of after each
// field. Nothing here allocates more than the input's own size.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/little_endian.h"
#include "tw/block_key.h"
#include "tw/status.h"

namespace tw::net {

class MetaWriter {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Fixed<2>(v); }
  void U32(uint32_t v) { Fixed<4>(v); }
  void U64(uint64_t v) { Fixed<8>(v); }
  template <typename Tag>
  void Id(const Id128<Tag>& id) { out_.append(reinterpret_cast<const char*>(id.bytes), 16); }
  // u32 length, then bytes.
  void Bytes(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  // A Status: u8 code, u16 message length, message (cut at 1 KiB).
  void Stat(const Status& s);

  std::string& str() { return out_; }
  size_t size() const { return out_.size(); }

 private:
  template <int N>
  void Fixed(uint64_t v) {
    for (int i = 0; i < N; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  std::string out_;
};

class MetaReader {
 public:
  explicit MetaReader(std::string_view bytes) : p_(bytes) {}

  uint8_t U8() { return static_cast<uint8_t>(Fixed(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Fixed(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Fixed(4)); }
  uint64_t U64() { return Fixed(8); }
  template <typename Tag>
  Id128<Tag> Id() {
    Id128<Tag> id;
    if (Take(16)) std::memcpy(id.bytes, last_.data(), 16);
    return id;
  }
  // A u32-length-prefixed byte string of at most `max_len` bytes.
  std::string Bytes(size_t max_len);
  Status Stat();
  // A count of items that each take at least `min_item_bytes`, checked against `max_count` and
  // against what is left, so a forged count cannot trigger a large allocation.
  uint32_t Count(uint32_t max_count, size_t min_item_bytes);

  bool ok() const { return ok_; }
  // The bytes not read yet.
  std::string_view rest() const { return p_; }
  bool done() const { return ok_ && p_.empty(); }
  // kCorruption naming `what` unless every read succeeded and all input was consumed.
  Status Finish(std::string_view what) const;
  void Fail() { ok_ = false; }

 private:
  bool Take(size_t n) {
    if (!ok_ || p_.size() < n) {
      ok_ = false;
      return false;
    }
    last_ = p_.substr(0, n);
    p_.remove_prefix(n);
    return true;
  }
  uint64_t Fixed(size_t n) {
    if (!Take(n)) return 0;
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | static_cast<uint8_t>(last_[i]);
    return v;
  }
  std::string_view p_;
  std::string_view last_;
  bool ok_ = true;
};

}  // namespace tw::net
