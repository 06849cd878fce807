#include "engines/llama/kv_state.h"

#include <cstring>
#include <string>

#include "common/little_endian.h"

namespace tw::llama {
namespace {

// ggml_type values of the KV types the canonical layout can carry (ggml.h, v0.5.0). Spelled here so
// this file needs no llama.cpp header and its tests build anywhere.
constexpr int32_t kGgmlF32 = 0;
constexpr int32_t kGgmlF16 = 1;
constexpr int32_t kGgmlBf16 = 30;

// Bytes of the per-cell metadata of one cell of one sequence: pos, n_seq_id (1), seq_id.
constexpr uint64_t kCellMetaBytes = 12;

Result<KvDtype> DtypeOf(int32_t ggml_type) {
  switch (ggml_type) {
    case kGgmlF32: return KvDtype::kF32;
    case kGgmlF16: return KvDtype::kF16;
    case kGgmlBf16: return KvDtype::kBF16;
    default:
      return Status::NotSupported("llama KV type ggml_type=" + std::to_string(ggml_type) +
                                  " has no canonical layout (quantized KV cache?)");
  }
}

// A bounds-checked reader over the blob; every short read is kCorruption.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> blob) : blob_(blob) {}

  Status U32(uint32_t* v) {
    const std::byte* p;
    TW_RETURN_IF_ERROR(Skip(4, &p));
    *v = LoadLE32(reinterpret_cast<const uint8_t*>(p));
    return Status::Ok();
  }
  Status I32(int32_t* v) {
    uint32_t u;
    TW_RETURN_IF_ERROR(U32(&u));
    *v = static_cast<int32_t>(u);
    return Status::Ok();
  }
  Status U64(uint64_t* v) {
    const std::byte* p;
    TW_RETURN_IF_ERROR(Skip(8, &p));
    *v = LoadLE64(reinterpret_cast<const uint8_t*>(p));
    return Status::Ok();
  }
  Status Skip(uint64_t n, const std::byte** at) {
    if (n > blob_.size() - pos_) {
      return Status::Corruption("llama KV state truncated at byte " + std::to_string(pos_) + " of " +
                                std::to_string(blob_.size()));
    }
    *at = blob_.data() + pos_;
    pos_ += n;
    return Status::Ok();
  }
  uint64_t remaining() const { return blob_.size() - pos_; }

 private:
  std::span<const std::byte> blob_;
  uint64_t pos_ = 0;
};

class Writer {
 public:
  explicit Writer(std::byte* p) : p_(p) {}
  void U32(uint32_t v) { StoreLE32(reinterpret_cast<uint8_t*>(p_), v); p_ += 4; }
  void U64(uint64_t v) { StoreLE64(reinterpret_cast<uint8_t*>(p_), v); p_ += 8; }
  std::byte* Take(uint64_t n) { std::byte* at = p_; p_ += n; return at; }
  std::byte* at() const { return p_; }

 private:
  std::byte* p_;
};

// Reads one layer's type and row header and checks it against what the first layer said.
Status ReadTypeAndWidth(Reader& r, bool first, bool is_v_trans, StateLayout* layout) {
  int32_t type;
  TW_RETURN_IF_ERROR(r.I32(&type));
  TW_ASSIGN_OR_RETURN(KvDtype dtype, DtypeOf(type));
  const uint32_t elem = static_cast<uint32_t>(KvDtypeBytes(dtype));
  uint64_t width;  // elements per row
  if (is_v_trans) {
    uint32_t elem_bytes, n_embd_v;
    TW_RETURN_IF_ERROR(r.U32(&elem_bytes));
    TW_RETURN_IF_ERROR(r.U32(&n_embd_v));
    if (elem_bytes != elem) return Status::Corruption("llama KV state: V element size disagrees with its type");
    width = n_embd_v;
  } else {
    uint64_t row_bytes;
    TW_RETURN_IF_ERROR(r.U64(&row_bytes));
    if (row_bytes == 0 || row_bytes % elem != 0) return Status::Corruption("llama KV state: bad row size");
    width = row_bytes / elem;
  }
  if (width == 0 || width > (1u << 20)) return Status::Corruption("llama KV state: bad row width");
  if (first) {
    layout->ggml_type = type;
    layout->elem_bytes = elem;
    layout->n_embd_kv = static_cast<uint32_t>(width);
    return Status::Ok();
  }
  if (type != layout->ggml_type) {
    return Status::NotSupported("llama KV state mixes KV types across layers or between K and V");
  }
  if (width != layout->n_embd_kv) {
    return Status::NotSupported("llama KV state has layers or K/V of different widths");
  }
  return Status::Ok();
}

// Strided element copies for transposed V. A memcpy of a compile-time size compiles to one load and
// one store; a memcpy of the run-time element size per element made the transpose the slowest step
// of a restore. Byte pointers throughout: the state blob gives no alignment guarantee.
template <size_t kSize>
void Gather(std::byte* dst, const std::byte* src, uint64_t n, uint64_t src_stride) {
  for (uint64_t i = 0; i < n; ++i) std::memcpy(dst + i * kSize, src + i * src_stride * kSize, kSize);
}
template <size_t kSize>
void Scatter(std::byte* dst, uint64_t dst_stride, const std::byte* src, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) std::memcpy(dst + i * dst_stride * kSize, src + i * kSize, kSize);
}
void GatherElems(uint64_t es, std::byte* dst, const std::byte* src, uint64_t n, uint64_t stride) {
  if (es == 2) return Gather<2>(dst, src, n, stride);
  return Gather<4>(dst, src, n, stride);
}
void ScatterElems(uint64_t es, std::byte* dst, uint64_t stride, const std::byte* src, uint64_t n) {
  if (es == 2) return Scatter<2>(dst, stride, src, n);
  return Scatter<4>(dst, stride, src, n);
}

}  // namespace

Result<KvGeometry> StateLayout::Geometry(uint32_t kv_heads, uint32_t block_tokens) const {
  if (kv_heads == 0 || n_embd_kv % kv_heads != 0) {
    return Status::InvalidArgument("KV width " + std::to_string(n_embd_kv) + " is not a multiple of " +
                                   std::to_string(kv_heads) + " KV heads");
  }
  KvGeometry g;
  g.layers = n_layer;
  g.kv_heads = kv_heads;
  g.head_dim = n_embd_kv / kv_heads;
  TW_ASSIGN_OR_RETURN(g.dtype, DtypeOf(ggml_type));
  g.block_tokens = block_tokens;
  TW_RETURN_IF_ERROR(g.Validate());
  return g;
}

uint64_t StateLayout::BlobBytes(uint64_t cells) const {
  uint64_t bytes = 4 + 4 + 4 + uint64_t{n_stream} * 4;  // magic, seq_id, n_stream, cell counts
  if (cells == 0) return bytes;
  bytes += cells * kCellMetaBytes + 8;                   // cell metadata, v_trans, n_layer
  bytes += uint64_t{n_layer} * (4 + 8);                  // K headers
  bytes += uint64_t{n_layer} * (v_trans ? 4 + 4 + 4 : 4 + 8);
  bytes += 2 * uint64_t{n_layer} * cells * RowBytes();
  return bytes;
}

std::string StateLayout::ToString() const {
  return std::to_string(n_layer) + " layers x " + std::to_string(n_embd_kv) + " KV width, ggml_type " +
         std::to_string(ggml_type) + ", " + std::to_string(n_stream) + " stream(s), V " +
         (v_trans ? "transposed" : "row-major");
}

Result<ParsedState> ParseState(std::span<const std::byte> blob) {
  Reader r(blob);
  ParsedState s;
  uint32_t magic;
  int32_t seq_id;
  TW_RETURN_IF_ERROR(r.U32(&magic));
  if (magic != kStateMagic) {
    return Status::NotSupported("llama KV state magic " + std::to_string(magic) +
                                " is not the v0.5.0 sequence-state magic");
  }
  TW_RETURN_IF_ERROR(r.I32(&seq_id));
  TW_RETURN_IF_ERROR(r.U32(&s.layout.n_stream));
  if (s.layout.n_stream == 0 || s.layout.n_stream > 4096) return Status::Corruption("llama KV state: bad n_stream");

  bool seen = false;
  for (uint32_t st = 0; st < s.layout.n_stream; ++st) {
    uint32_t cells;
    TW_RETURN_IF_ERROR(r.U32(&cells));
    if (cells == 0) continue;
    // A sequence lives in one stream; two non-empty streams means a format this code does not know.
    if (seen) return Status::NotSupported("llama KV state holds one sequence in several streams");
    seen = true;
    s.cell_count = cells;
    if (uint64_t{cells} * kCellMetaBytes > r.remaining()) return Status::Corruption("llama KV state truncated");

    s.cell_of_pos.assign(cells, UINT32_MAX);
    for (uint32_t i = 0; i < cells; ++i) {
      int32_t pos, cell_seq;
      uint32_t n_seq;
      TW_RETURN_IF_ERROR(r.I32(&pos));
      TW_RETURN_IF_ERROR(r.U32(&n_seq));
      // Models with per-cell extensions (M-RoPE, PLE) put more bytes here; n_seq_id would read as garbage.
      if (n_seq != 1) return Status::NotSupported("llama KV state cells carry data this adapter does not know");
      TW_RETURN_IF_ERROR(r.I32(&cell_seq));
      if (cell_seq != seq_id) return Status::Corruption("llama KV state: cell of another sequence");
      // The canonical layout stores tokens by position; a shifted or gappy sequence has no such form.
      if (pos < 0 || static_cast<uint32_t>(pos) >= cells || s.cell_of_pos[pos] != UINT32_MAX) {
        return Status::NotSupported("llama KV state positions are not 0..n-1 (context shift or gaps)");
      }
      s.cell_of_pos[pos] = i;
    }

    uint32_t v_trans, n_layer;
    TW_RETURN_IF_ERROR(r.U32(&v_trans));
    TW_RETURN_IF_ERROR(r.U32(&n_layer));
    if (v_trans > 1) return Status::Corruption("llama KV state: bad v_trans flag");
    if (n_layer == 0 || n_layer > 4096) return Status::Corruption("llama KV state: bad layer count");
    s.layout.v_trans = v_trans == 1;
    s.layout.n_layer = n_layer;

    for (int kv = 0; kv < 2; ++kv) {
      auto& ptrs = kv == 0 ? s.k : s.v;
      for (uint32_t l = 0; l < n_layer; ++l) {
        TW_RETURN_IF_ERROR(ReadTypeAndWidth(r, kv == 0 && l == 0, kv == 1 && s.layout.v_trans, &s.layout));
        const std::byte* data;
        TW_RETURN_IF_ERROR(r.Skip(uint64_t{cells} * s.layout.RowBytes(), &data));
        ptrs.push_back(data);
      }
    }
  }
  if (r.remaining() != 0) {
    return Status::NotSupported("llama KV state has " + std::to_string(r.remaining()) +
                                " trailing bytes (a cache type other than a plain KV cache?)");
  }
  return s;
}

Status BlockToCanonical(const ParsedState& state, const KvGeometry& g, uint32_t block, std::span<std::byte> out) {
  const StateLayout& lay = state.layout;
  if (g.layers != lay.n_layer || uint64_t{g.kv_heads} * g.head_dim != lay.n_embd_kv ||
      KvDtypeBytes(g.dtype) != lay.elem_bytes) {
    return Status::InvalidArgument("geometry " + g.ToString() + " does not match the KV state " + lay.ToString());
  }
  if (out.size() != g.ObjectBytes()) return Status::InvalidArgument("output is not one object");
  const uint64_t t0 = uint64_t{block} * g.block_tokens;
  if (t0 + g.block_tokens > state.cell_count) return Status::InvalidArgument("block beyond the sequence");

  const uint64_t es = lay.elem_bytes;
  const uint64_t head_bytes = g.head_dim * es;
  const uint64_t row = lay.RowBytes();
  std::byte* o = out.data();
  for (uint32_t l = 0; l < g.layers; ++l) {
    for (int kv = 0; kv < 2; ++kv) {
      const std::byte* src = kv == 0 ? state.k[l] : state.v[l];
      const bool trans = kv == 1 && lay.v_trans;
      for (uint32_t h = 0; h < g.kv_heads; ++h) {
        for (uint32_t t = 0; t < g.block_tokens; ++t) {
          const uint64_t cell = state.cell_of_pos[t0 + t];
          if (!trans) {
            std::memcpy(o, src + cell * row + h * head_bytes, head_bytes);
            o += head_bytes;
            continue;
          }
          // Transposed V: element (h, d) of every cell is one run of cell_count elements, so one
          // token's head_dim elements sit cell_count elements apart.
          GatherElems(es, o, src + (uint64_t{h} * g.head_dim * state.cell_count + cell) * es, g.head_dim,
                      state.cell_count);
          o += head_bytes;
        }
      }
    }
  }
  return Status::Ok();
}

Status CanonicalToState(const StateLayout& lay, const KvGeometry& g, int32_t seq_id,
                        std::span<const std::span<const std::byte>> objects, std::vector<std::byte>* out) {
  if (g.layers != lay.n_layer || uint64_t{g.kv_heads} * g.head_dim != lay.n_embd_kv ||
      KvDtypeBytes(g.dtype) != lay.elem_bytes) {
    return Status::InvalidArgument("geometry " + g.ToString() + " does not match the context's KV " + lay.ToString());
  }
  for (const auto& obj : objects) {
    if (obj.size() != g.ObjectBytes()) return Status::InvalidArgument("object of the wrong size");
  }
  const uint64_t n = objects.size() * uint64_t{g.block_tokens};
  if (n > INT32_MAX) return Status::InvalidArgument("too many tokens");
  out->resize(lay.BlobBytes(n));
  Writer w(out->data());
  w.U32(kStateMagic);
  w.U32(static_cast<uint32_t>(seq_id));
  w.U32(lay.n_stream);
  // The reader puts the cells in the destination sequence's own stream whichever slot carries
  // them, so the first slot does; the other slots are empty and follow it.
  w.U32(static_cast<uint32_t>(n));
  if (n == 0) {
    for (uint32_t st = 1; st < lay.n_stream; ++st) w.U32(0);
    return Status::Ok();
  }
  for (uint64_t p = 0; p < n; ++p) {
    w.U32(static_cast<uint32_t>(p));
    w.U32(1);
    w.U32(static_cast<uint32_t>(seq_id));
  }
  w.U32(lay.v_trans ? 1 : 0);
  w.U32(lay.n_layer);

  const uint64_t es = lay.elem_bytes;
  const uint64_t head_bytes = g.head_dim * es;
  const uint64_t row = lay.RowBytes();
  const uint64_t run = uint64_t{g.block_tokens} * head_bytes;  // one (K or V) x head of one object
  // Byte offset in an object of (layer, kv, head).
  auto run_offset = [&](uint32_t l, int kv, uint32_t h) { return ((uint64_t{l} * 2 + kv) * g.kv_heads + h) * run; };

  for (int kv = 0; kv < 2; ++kv) {
    const bool trans = kv == 1 && lay.v_trans;
    for (uint32_t l = 0; l < g.layers; ++l) {
      w.U32(static_cast<uint32_t>(lay.ggml_type));
      if (trans) {
        w.U32(lay.elem_bytes);
        w.U32(lay.n_embd_kv);
      } else {
        w.U64(row);
      }
      std::byte* dst = w.Take(n * row);
      for (size_t b = 0; b < objects.size(); ++b) {
        const uint64_t t0 = b * uint64_t{g.block_tokens};
        for (uint32_t h = 0; h < g.kv_heads; ++h) {
          const std::byte* src = objects[b].data() + run_offset(l, kv, h);
          if (!trans) {
            for (uint32_t t = 0; t < g.block_tokens; ++t) {
              std::memcpy(dst + (t0 + t) * row + h * head_bytes, src + t * head_bytes, head_bytes);
            }
            continue;
          }
          // Each canonical token row (head_dim elements) lands n elements apart in the state.
          for (uint32_t t = 0; t < g.block_tokens; ++t) {
            ScatterElems(es, dst + ((uint64_t{h} * g.head_dim) * n + t0 + t) * es, n, src + t * head_bytes, g.head_dim);
          }
        }
      }
    }
  }
  for (uint32_t st = 1; st < lay.n_stream; ++st) w.U32(0);
  if (w.at() != out->data() + out->size()) return Status::Internal("llama KV state size mismatch");
  return Status::Ok();
}

}  // namespace tw::llama
