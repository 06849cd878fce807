// libFuzzer target for the KV-events replay request parser (src/server/kv_event_replay.h): frames a
// ZMQ ROUTER socket hands the daemon from anyone who can reach the replay endpoint. The input is
// split into frames at 0xff bytes. Any frames are either a start sequence (8 bytes, non-negative)
// or kInvalidArgument; nothing may crash or read out of bounds, and a parsed start re-encodes to
// the bytes it came from.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "server/kv_event_replay.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string_view> frames;
  const char* p = reinterpret_cast<const char*>(data);
  size_t start = 0;
  for (size_t i = 0; i <= size; ++i) {
    if (i == size || data[i] == 0xff) {
      frames.emplace_back(p + start, i - start);
      start = i + 1;
    }
  }
  tw::Result<uint64_t> seq = tw::server::ParseReplayRequest(frames);
  if (!seq.ok()) {
    if (seq.status().code() != tw::StatusCode::kInvalidArgument) std::abort();
    return 0;
  }
  if (*seq >> 63) std::abort();
  if (tw::server::EncodeSequence(static_cast<int64_t>(*seq)) != frames.back()) std::abort();
  tw::server::ReplayBuffer ring(4);
  for (uint64_t s = 0; s < 6; ++s) ring.Add(s, "x");
  ring.ForEachFrom(*seq, [&](uint64_t s, const std::string&) {
    if (s < *seq) std::abort();
  });
  return 0;
}
