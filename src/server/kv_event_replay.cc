#include "server/kv_event_replay.h"

namespace tw::server {

std::string EncodeSequence(int64_t seq) {
  const uint64_t v = static_cast<uint64_t>(seq);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (56 - 8 * i)) & 0xff);
  return out;
}

Result<uint64_t> ParseReplayRequest(std::span<const std::string_view> frames) {
  std::string_view seq;
  if (frames.size() == 2) {
    if (!frames[0].empty()) return Status::InvalidArgument("replay request: the delimiter frame must be empty");
    seq = frames[1];
  } else if (frames.size() == 1) {
    seq = frames[0];
  } else {
    return Status::InvalidArgument("replay request: expected [\"\", sequence] or [sequence], got " +
                                   std::to_string(frames.size()) + " frames");
  }
  if (seq.size() != 8) return Status::InvalidArgument("replay request: the sequence must be 8 bytes big-endian");
  uint64_t v = 0;
  for (char c : seq) v = (v << 8) | static_cast<uint8_t>(c);
  if (v >> 63) return Status::InvalidArgument("replay request: negative start sequence");
  return v;
}

void ReplayBuffer::Add(uint64_t seq, std::string payload) {
  if (max_batches_ == 0) return;
  if (batches_.size() == max_batches_) batches_.pop_front();
  batches_.emplace_back(seq, std::move(payload));
}

}  // namespace tw::server
