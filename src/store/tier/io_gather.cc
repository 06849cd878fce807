#include "store/tier/io_gather.h"

#include <algorithm>

namespace tw {

uint64_t IoGather::Take(std::byte* data, uint64_t length) {
  if (full() || length == 0) return 0;
  const uint64_t n = std::min(length, io_bytes_ - length_);
  if (!pieces_.empty() && pieces_.back().data() + pieces_.back().size() == data) {
    pieces_.back() = {pieces_.back().data(), pieces_.back().size() + n};
  } else {
    pieces_.emplace_back(data, n);
  }
  length_ += n;
  return n;
}

void IoGather::Fill(IoOp* op) const {
  op->length = length_;
  if (pieces_.size() == 1) {
    op->data = pieces_[0].data();
    op->pieces = {};
  } else {
    op->data = nullptr;
    op->pieces = pieces_;
  }
}

}  // namespace tw
