// Request traces for the simulator, in Mooncake's JSONL format: one JSON object a line with
// `timestamp` (ms), `input_length` and `output_length` (tokens) and `hash_ids` (one id per block of
// the prompt; equal leading ids mean a shared prefix). Other fields are ignored.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tw/result.h"

namespace tw::sim {

struct TraceRequest {
  int64_t timestamp_ms = 0;
  uint32_t input_tokens = 0;
  uint32_t output_tokens = 0;
  // Dense block indices (0 .. Trace::unique_blocks - 1), in prompt order.
  std::vector<uint32_t> blocks;
};

struct Trace {
  // Sorted by timestamp; requests with equal timestamps keep their file order.
  std::vector<TraceRequest> requests;
  uint64_t unique_blocks = 0;
  uint64_t block_accesses = 0;
  // The block before each block in the first request that named it, or UINT32_MAX for a chain head.
  std::vector<uint32_t> parent;
};

// Parses JSONL text. kInvalidArgument (with the line number) for a malformed line or a missing field.
Result<Trace> ParseMooncakeTrace(std::string_view text);
// Reads and parses a file; kNotFound / kIOError if it cannot be read.
Result<Trace> ReadMooncakeTrace(const std::string& path);

}  // namespace tw::sim
