// llama.cpp's per-sequence KV state <-> warehouse objects in the canonical layout.
//
// The blob that llama_state_seq_get_data_ext(ctx, ..., seq, 0) writes for a plain (non-SWA,
// non-recurrent) llama_kv_cache in llama.cpp v0.5.0 (src/llama-context.cpp state_seq_get_data and
// src/llama-kv-cache.cpp state_write); all integers little-endian:
//
//   u32 magic = 0xaf143cd8        i32 seq_id
//   u32 n_stream                  1 with kv_unified, else n_seq_max
//   per stream:
//     u32 cell_count              0 for every stream but the sequence's own
//     cell_count x { i32 pos, u32 n_seq_id (= 1), i32 seq_id }      (cells in cache order)
//     u32 v_trans, u32 n_layer
//     n_layer x { i32 k_type, u64 k_row_bytes, cell_count rows of [kv_head][head_dim] }
//     if !v_trans: n_layer x { i32 v_type, u64 v_row_bytes, cell_count rows of [kv_head][head_dim] }
//     if  v_trans: n_layer x { i32 v_type, u32 elem_bytes, u32 n_embd_v,
//                              n_embd_v runs (one per [kv_head][head_dim] element) of cell_count elements }
//
// v_trans is set when flash attention is off: V is then kept transposed so that attention can read
// it column-wise. Both forms are converted here. Anything else (another magic, cells with extra
// per-cell data as M-RoPE models have, quantized or mixed K/V types, layers of different widths,
// positions that are not 0..n-1, trailing bytes) is refused with kNotSupported or kCorruption:
// a state this code does not fully understand is never converted, because a wrong restore would
// silently change the model's output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tw/geometry.h"
#include "tw/result.h"
#include "tw/status.h"

namespace tw::llama {

inline constexpr uint32_t kStateMagic = 0xaf143cd8;

// The shape of a context's KV state; equal for every sequence of one context.
struct StateLayout {
  uint32_t n_stream = 1;
  uint32_t n_layer = 0;
  uint32_t n_embd_kv = 0;    // kv_heads * head_dim, the same for K and V and every layer
  int32_t ggml_type = 0;     // of both K and V (GGML_TYPE_F16, F32 or BF16)
  uint32_t elem_bytes = 0;
  bool v_trans = false;

  // The canonical geometry for `kv_heads` heads, or kInvalidArgument if they do not divide n_embd_kv.
  Result<KvGeometry> Geometry(uint32_t kv_heads, uint32_t block_tokens) const;
  uint64_t RowBytes() const { return uint64_t{n_embd_kv} * elem_bytes; }
  // Bytes of a state blob holding `cells` cells of one sequence.
  uint64_t BlobBytes(uint64_t cells) const;
  std::string ToString() const;
  friend bool operator==(const StateLayout&, const StateLayout&) = default;
};

// A parsed state blob. Views into the blob, which must outlive it.
struct ParsedState {
  StateLayout layout;
  uint32_t cell_count = 0;
  // cell_of_pos[p]: the index, in blob order, of the cell holding position p. Positions are 0..n-1.
  std::vector<uint32_t> cell_of_pos;
  std::vector<const std::byte*> k;  // per layer: cell_count rows of RowBytes()
  std::vector<const std::byte*> v;  // per layer: rows, or n_embd_kv runs of cell_count elements if v_trans
};

// Parses a blob from llama_state_seq_get_data_ext. kNotSupported for a format this code does not
// convert; kCorruption for a truncated or inconsistent blob. An empty sequence parses to cell_count 0.
Result<ParsedState> ParseState(std::span<const std::byte> blob);

// Writes block `block` (tokens [block * B, (block + 1) * B), B = geometry.block_tokens) of `state`
// into `out` (geometry.ObjectBytes()) in the canonical layout [layer][K,V][kv_head][token][head_dim].
// kInvalidArgument if the state does not hold those tokens or the geometry does not match it.
Status BlockToCanonical(const ParsedState& state, const KvGeometry& geometry, uint32_t block,
                        std::span<std::byte> out);

// Builds a blob for llama_state_seq_set_data_ext holding positions 0..n-1 of `seq_id`, n =
// objects.size() * block_tokens, from canonical objects in chain order. `out` is resized.
Status CanonicalToState(const StateLayout& layout, const KvGeometry& geometry, int32_t seq_id,
                        std::span<const std::span<const std::byte>> objects, std::vector<std::byte>* out);

}  // namespace tw::llama
