// The llama.cpp state format, without llama.cpp: blobs are written here by hand, following the
// format kv_state.h documents, with every element's value naming its coordinates, so a misplaced
// element shows exactly where it went.
#include "engines/llama/kv_state.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

namespace tw::llama {
namespace {

constexpr uint32_t kLayers = 3, kHeads = 2, kDim = 4, kBlock = 8;

// The value of element (layer, kv, head, pos, d): distinct for every coordinate.
uint16_t Value(uint32_t l, uint32_t kv, uint32_t h, uint32_t pos, uint32_t d) {
  return static_cast<uint16_t>((((l * 2 + kv) * kHeads + h) * 64 + pos) * kDim + d);
}

void Put32(std::vector<std::byte>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(std::byte(v >> (8 * i)));
}
void Put64(std::vector<std::byte>& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(std::byte(v >> (8 * i)));
}
void Put16(std::vector<std::byte>& b, uint16_t v) {
  b.push_back(std::byte(v));
  b.push_back(std::byte(v >> 8));
}

struct BlobSpec {
  uint32_t cells = 20;
  bool v_trans = false;
  uint32_t n_stream = 1;
  uint32_t stream = 0;         // which stream slot holds the cells
  bool shuffle = true;         // cells in a cache order other than position order
  int32_t k_type = 1;          // GGML_TYPE_F16
  uint32_t n_seq_id = 1;
};

// A blob as llama_state_seq_get_data_ext writes it for sequence 3.
std::vector<std::byte> MakeBlob(const BlobSpec& s) {
  std::vector<uint32_t> order(s.cells);  // order[i]: position of the i-th cell
  std::iota(order.begin(), order.end(), 0);
  if (s.shuffle) std::shuffle(order.begin(), order.end(), std::mt19937(7));
  std::vector<std::byte> b;
  Put32(b, kStateMagic);
  Put32(b, 3);
  Put32(b, s.n_stream);
  for (uint32_t st = 0; st < s.n_stream; ++st) {
    if (st != s.stream || s.cells == 0) {
      Put32(b, 0);
      continue;
    }
    Put32(b, s.cells);
    for (uint32_t i = 0; i < s.cells; ++i) {
      Put32(b, order[i]);
      Put32(b, s.n_seq_id);
      Put32(b, 3);
    }
    Put32(b, s.v_trans);
    Put32(b, kLayers);
    const uint32_t n_embd = kHeads * kDim;
    for (uint32_t l = 0; l < kLayers; ++l) {
      Put32(b, static_cast<uint32_t>(s.k_type));
      Put64(b, n_embd * 2);
      for (uint32_t i = 0; i < s.cells; ++i)
        for (uint32_t j = 0; j < n_embd; ++j) Put16(b, Value(l, 0, j / kDim, order[i], j % kDim));
    }
    for (uint32_t l = 0; l < kLayers; ++l) {
      Put32(b, 1);
      if (s.v_trans) {
        Put32(b, 2);
        Put32(b, n_embd);
        for (uint32_t j = 0; j < n_embd; ++j)
          for (uint32_t i = 0; i < s.cells; ++i) Put16(b, Value(l, 1, j / kDim, order[i], j % kDim));
      } else {
        Put64(b, n_embd * 2);
        for (uint32_t i = 0; i < s.cells; ++i)
          for (uint32_t j = 0; j < n_embd; ++j) Put16(b, Value(l, 1, j / kDim, order[i], j % kDim));
      }
    }
  }
  return b;
}

KvGeometry Geo() { return KvGeometry{kLayers, kHeads, kDim, KvDtype::kF16, kBlock}; }

uint16_t At(std::span<const std::byte> obj, uint32_t l, uint32_t kv, uint32_t h, uint32_t t, uint32_t d) {
  const uint64_t idx = ((((uint64_t{l} * 2 + kv) * kHeads + h) * kBlock + t) * kDim + d);
  uint16_t v;
  std::memcpy(&v, obj.data() + idx * 2, 2);
  return v;
}

class KvStateLayouts : public ::testing::TestWithParam<std::tuple<bool, uint32_t>> {};

TEST_P(KvStateLayouts, BlocksAreCanonicalAndRoundTrip) {
  BlobSpec spec;
  spec.v_trans = std::get<0>(GetParam());
  spec.n_stream = std::get<1>(GetParam());
  spec.stream = spec.n_stream - 1;
  std::vector<std::byte> blob = MakeBlob(spec);
  Result<ParsedState> parsed = ParseState(blob);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->cell_count, spec.cells);
  EXPECT_EQ(parsed->layout.v_trans, spec.v_trans);
  EXPECT_EQ(parsed->layout.BlobBytes(spec.cells), blob.size());
  Result<KvGeometry> geo = parsed->layout.Geometry(kHeads, kBlock);
  ASSERT_TRUE(geo.ok());
  EXPECT_EQ(*geo, Geo());

  // Two full blocks of 20 cells; the third would run past the sequence.
  std::vector<std::vector<std::byte>> objs(2, std::vector<std::byte>(Geo().ObjectBytes()));
  for (uint32_t b = 0; b < 2; ++b) {
    ASSERT_TRUE(BlockToCanonical(*parsed, Geo(), b, objs[b]).ok());
    for (uint32_t l = 0; l < kLayers; ++l)
      for (uint32_t kv = 0; kv < 2; ++kv)
        for (uint32_t h = 0; h < kHeads; ++h)
          for (uint32_t t = 0; t < kBlock; ++t)
            for (uint32_t d = 0; d < kDim; ++d)
              ASSERT_EQ(At(objs[b], l, kv, h, t, d), Value(l, kv, h, b * kBlock + t, d))
                  << "l" << l << " kv" << kv << " h" << h << " t" << t << " d" << d;
  }
  std::vector<std::byte> scratch(Geo().ObjectBytes());
  EXPECT_TRUE(BlockToCanonical(*parsed, Geo(), 2, scratch).IsInvalidArgument());

  // Back to a state of the first 16 positions, in position order: what llama.cpp would write for a
  // sequence holding exactly those tokens.
  std::vector<std::span<const std::byte>> views(objs.begin(), objs.end());
  std::vector<std::byte> rebuilt;
  ASSERT_TRUE(CanonicalToState(parsed->layout, Geo(), 3, views, &rebuilt).ok());
  BlobSpec expect = spec;
  expect.cells = 16;
  expect.shuffle = false;
  expect.stream = 0;
  EXPECT_EQ(rebuilt, MakeBlob(expect));
}

INSTANTIATE_TEST_SUITE_P(VTransAndStreams, KvStateLayouts,
                         ::testing::Combine(::testing::Bool(), ::testing::Values(1u, 3u)));

TEST(KvState, EmptySequenceParses) {
  BlobSpec spec;
  spec.cells = 0;
  Result<ParsedState> parsed = ParseState(MakeBlob(spec));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->cell_count, 0u);
}

TEST(KvState, EveryTruncationIsCorruption) {
  BlobSpec spec;
  spec.cells = 5;
  std::vector<std::byte> blob = MakeBlob(spec);
  for (size_t n = 0; n < blob.size(); ++n) {
    Result<ParsedState> parsed = ParseState(std::span<const std::byte>(blob.data(), n));
    ASSERT_FALSE(parsed.ok()) << "prefix of " << n << " bytes parsed";
    // A cut right after a zero-cell stream count can read as "another stream follows"; every
    // outcome must be an error, and truncation inside the data must say corruption.
    if (n > 20) {
      EXPECT_TRUE(parsed.status().IsCorruption()) << n << ": " << parsed.status().ToString();
    }
  }
}

TEST(KvState, UnknownFormatsAreNotSupported) {
  std::vector<std::byte> blob = MakeBlob({});
  blob[0] = std::byte{0x00};  // magic
  EXPECT_EQ(ParseState(blob).status().code(), StatusCode::kNotSupported);

  blob = MakeBlob({});
  blob.push_back(std::byte{0});  // trailing bytes: another memory type's section
  EXPECT_EQ(ParseState(blob).status().code(), StatusCode::kNotSupported);

  BlobSpec quant;
  quant.k_type = 8;  // GGML_TYPE_Q8_0
  EXPECT_EQ(ParseState(MakeBlob(quant)).status().code(), StatusCode::kNotSupported);

  BlobSpec ext;
  ext.n_seq_id = 5;  // where M-RoPE cells put their extension
  EXPECT_EQ(ParseState(MakeBlob(ext)).status().code(), StatusCode::kNotSupported);
}

TEST(KvState, GarbledPositionsAreRefused) {
  std::vector<std::byte> blob = MakeBlob({});
  // The first cell's position becomes a duplicate of another's: no longer positions 0..n-1.
  const size_t first_pos = 16;
  std::vector<std::byte> garbled = blob;
  uint32_t dup;
  std::memcpy(&dup, blob.data() + first_pos + 12, 4);
  std::memcpy(garbled.data() + first_pos, &dup, 4);
  EXPECT_FALSE(ParseState(garbled).ok());
  // A cell claiming another sequence.
  garbled = blob;
  garbled[first_pos + 8] = std::byte{9};
  EXPECT_TRUE(ParseState(garbled).status().IsCorruption());
}

TEST(KvState, GeometryMismatchIsInvalidArgument) {
  Result<ParsedState> parsed = ParseState(MakeBlob({}));
  ASSERT_TRUE(parsed.ok());
  KvGeometry wrong;
  std::vector<std::byte> out;
  wrong = Geo();
  wrong.layers = 2;
  out.resize(wrong.ObjectBytes());
  EXPECT_TRUE(BlockToCanonical(*parsed, wrong, 0, out).IsInvalidArgument());
  std::vector<std::span<const std::byte>> none;
  std::vector<std::byte> blob;
  EXPECT_TRUE(CanonicalToState(parsed->layout, wrong, 0, none, &blob).IsInvalidArgument());
  EXPECT_TRUE(parsed->layout.Geometry(3, kBlock).status().IsInvalidArgument());
}

}  // namespace
}  // namespace tw::llama
