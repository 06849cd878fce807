// The replay side of the KV-events publisher, without sockets: the ring of recent batches and the
// parser of replay requests (vLLM's protocol, vllm/distributed/kv_events.py ZmqEventPublisher).
//
// A subscriber that sees a gap in the 8-byte sequence numbers sends, over a DEALER socket to the
// ROUTER replay endpoint, ["", start]: the first sequence it wants as an 8-byte big-endian integer.
// (A REQ socket sends the same but takes only the first message of the many-message reply.)
// It gets back every buffered batch from that sequence on, each as [topic, seq, payload], then the
// end marker ["", seq = -1, ""]. A sequence older than the ring gets what the ring still has: the
// subscriber sees the first sequence returned is later than asked and must resynchronise.
//
// Not thread-safe: the publisher's one thread owns both.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "tw/result.h"

namespace tw::server {

// The sequence frame of a message: 8 bytes, big-endian.
std::string EncodeSequence(int64_t seq);

// The start sequence of a replay request, given the frames after the ROUTER's identity frame
// (vLLM's REQ sends an empty delimiter, then the sequence; a DEALER may send the sequence alone).
// kInvalidArgument for anything else: a wrong count of frames, a non-empty delimiter, a sequence
// frame that is not 8 bytes, or a negative sequence.
Result<uint64_t> ParseReplayRequest(std::span<const std::string_view> frames);

class ReplayBuffer {
 public:
  explicit ReplayBuffer(size_t max_batches) : max_batches_(max_batches) {}
  void Add(uint64_t seq, std::string payload);
  // Calls fn(seq, payload) for each buffered batch with seq >= start, oldest first.
  template <typename Fn>
  void ForEachFrom(uint64_t start, Fn&& fn) const {
    for (const auto& [seq, payload] : batches_) {
      if (seq >= start) fn(seq, payload);
    }
  }
  size_t size() const { return batches_.size(); }

 private:
  const size_t max_batches_;
  std::deque<std::pair<uint64_t, std::string>> batches_;  // oldest first, sequences increasing
};

}  // namespace tw::server
