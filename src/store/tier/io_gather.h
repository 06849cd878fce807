// IoGather: one O_DIRECT I/O's scatter/gather list, built the same way for the disk tier's writes
// (disk_writer.cc: record headers from the staging ring, payloads from DRAM pages) and its reads
// (disk_reader.cc: record headers into a bounce buffer, payloads into DRAM pages or the caller's
// buffer).
//
// An op covers up to io_bytes of the file (the size the raw-disk baseline uses) from at most
// kMaxPieces iovecs. A piece that starts where the previous one ends in memory extends it instead of
// adding an iovec, so records copied back to back into the ring become one plain I/O (which can use
// a registered buffer). The bytes must already meet O_DIRECT's alignment: this class only cuts.
//
// Not thread-safe; one per op. The op it fills points into this object's piece list: keep the
// IoGather alive (a std::deque of them does; moving one keeps its list's storage) until the op completes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/env/env.h"

namespace tw {

class IoGather {
 public:
  // Bounds the iovec count well under IOV_MAX (1024) while keeping the kernel's per-op setup small.
  static constexpr size_t kMaxPieces = 64;

  explicit IoGather(uint64_t io_bytes) : io_bytes_(io_bytes) {}

  // Appends up to `length` bytes at `data`, the next bytes of the op's file range. Returns how many
  // it took: fewer than `length` once the op holds io_bytes, or kMaxPieces pieces (then 0: full()).
  uint64_t Take(std::byte* data, uint64_t length);

  // True when the op can take no more bytes; the caller starts the next op.
  bool full() const { return length_ == io_bytes_ || pieces_.size() == kMaxPieces; }
  uint64_t length() const { return length_; }
  size_t piece_count() const { return pieces_.size(); }

  // Sets op's length and its bytes: `data` for a single piece (a plain read or write), `pieces`
  // for several. The caller sets kind and offset.
  void Fill(IoOp* op) const;

 private:
  uint64_t io_bytes_;
  uint64_t length_ = 0;
  std::vector<std::span<std::byte>> pieces_;
};

}  // namespace tw
