// Known-answer tests pin the namespace encoding and the key chain. The SHA-256 answers were computed
// independently (Python's hashlib over the byte strings docs/formats.md specifies), so these tests
// check the specification, not just that the code agrees with itself.
#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "tw/block_key.h"
#include "tw/namespace.h"

namespace tw {
namespace {

Namespace Acme() {
  Namespace ns;
  ns.tenant = "acme";
  ns.model_id = "llama-3-8b";
  ns.model_revision = "r1";
  ns.geometry = KvGeometry{32, 8, 128, KvDtype::kBF16, 256};
  return ns;
}

std::string Hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

std::vector<uint32_t> Iota(uint32_t from, uint32_t n) {
  std::vector<uint32_t> v(n);
  std::iota(v.begin(), v.end(), from);
  return v;
}

TEST(NamespaceEncoding, KnownAnswer) {
  EXPECT_EQ(Hex(Acme().Encode()),
            "54574e53010400000061636d650a0000006c6c616d612d332d38620200000072310000000000000000200000000800000080000000"
            "030001000001");
  EXPECT_EQ(Acme().Id().ToHex(), "5de48203462916c741f684514f9b668e");
}

TEST(BlockKeys, Sha256KnownAnswer) {
  Namespace ns = Acme();
  EXPECT_EQ(ns.Root().ToHex(), "5f06766ddc59e47fc2120d7c98838879");
  std::vector<BlockKey> keys = ns.BlockKeys(Iota(0, 512 + 100));  // two full blocks and a partial one
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].ToHex(), "862a7408106945617e670ef20ff134e8");
  EXPECT_EQ(keys[1].ToHex(), "d5e9c3037339dc351b333f89599a52b7");
}

TEST(BlockKeys, Xxh3IsPinnedAndDiffersFromSha256) {
  Namespace ns = Acme();
  ns.key_hash = KeyHash::kXxh3;
  std::vector<BlockKey> keys = ns.BlockKeys(Iota(0, 512));
  ASSERT_EQ(keys.size(), 2u);
  // Pinned from this implementation (XXH3_128bits, canonical byte order); a change is a format change.
  EXPECT_EQ(ns.Root().ToHex(), "f4e9613fe41003c0a168257355b42422");
  EXPECT_EQ(keys[0].ToHex(), "15c2171798813a4cf709731943c1b420");
  Namespace sha = Acme();
  EXPECT_NE(ns.Id(), sha.Id());  // the hash choice is part of the namespace
}

TEST(BlockKeys, AKeyNamesItsWholePrefix) {
  Namespace ns = Acme();
  std::vector<uint32_t> a = Iota(0, 768), b = Iota(0, 768);
  b[5] = 99999;  // differs in block 1 only
  std::vector<BlockKey> ka = ns.BlockKeys(a), kb = ns.BlockKeys(b);
  ASSERT_EQ(ka.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NE(ka[i], kb[i]) << "block " << i;
  std::vector<uint32_t> c = a;
  c[700] = 7;  // differs in block 3 only
  std::vector<BlockKey> kc = ns.BlockKeys(c);
  EXPECT_EQ(ka[0], kc[0]);
  EXPECT_EQ(ka[1], kc[1]);
  EXPECT_NE(ka[2], kc[2]);
}

TEST(BlockKeys, EveryNamespaceFieldSeparatesKeys) {
  std::vector<uint32_t> tokens = Iota(0, 256);
  std::set<std::string> seen;
  std::vector<Namespace> variants(8, Acme());
  variants[1].tenant = "other";
  variants[2].model_revision = "r2";
  variants[3].adapter_id = "lora-7";
  variants[4].cache_salt = "salt";
  variants[5].geometry.dtype = KvDtype::kF16;
  variants[6].geometry.kv_heads = 4;
  variants[7].model_id = "llama-3-8b-instruct";
  for (const Namespace& ns : variants) seen.insert(ns.BlockKeys(tokens)[0].ToHex());
  EXPECT_EQ(seen.size(), variants.size());
}

TEST(BlockKeys, FieldBoundariesAreUnambiguous) {
  // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
  Namespace x = Acme(), y = Acme();
  x.tenant = "ab";
  x.model_id = "c";
  y.tenant = "a";
  y.model_id = "bc";
  EXPECT_NE(x.Id(), y.Id());
}

TEST(BlockKeys, OnlyFullBlocksGetKeys) {
  Namespace ns = Acme();
  EXPECT_TRUE(ns.BlockKeys(Iota(0, 255)).empty());
  EXPECT_EQ(ns.BlockKeys(Iota(0, 256)).size(), 1u);
  EXPECT_TRUE(ComputeBlockKeys(ns.Id(), Iota(0, 10), 0).empty());
}

TEST(NamespaceEncoding, RoundTripsAndRejectsGarbage) {
  Namespace ns = Acme();
  ns.adapter_id = "lora";
  ns.cache_salt = "s";
  Result<Namespace> back = Namespace::Decode(ns.Encode());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->Id(), ns.Id());
  std::string enc = ns.Encode();
  for (size_t cut = 0; cut < enc.size(); ++cut) {
    EXPECT_FALSE(Namespace::Decode(enc.substr(0, cut)).ok()) << cut;
  }
  EXPECT_TRUE(Namespace::Decode(enc + "x").status().IsCorruption());
  std::string v3 = enc;
  v3[4] = 3;
  EXPECT_EQ(Namespace::Decode(v3).status().code(), StatusCode::kNotSupported);
  std::string v2 = enc;  // version 2 without its codec byte
  v2[4] = 2;
  EXPECT_TRUE(Namespace::Decode(v2).status().IsCorruption());
  EXPECT_TRUE(Namespace::Decode(v2 + '\0').status().IsCorruption());  // v2 "none": a second id for v1
  EXPECT_TRUE(Namespace::Decode(v2 + '\x09').status().IsCorruption());
}

// A namespace that stores with a codec is another namespace (version 2 appends the codec); without
// one the encoding, and so every id and key, is what version 1 always gave.
TEST(NamespaceEncoding, ACodecMakesAnotherNamespace) {
  Namespace fp8 = Acme();
  fp8.codec = KvCodec::kFp8;
  const std::string enc = fp8.Encode();
  EXPECT_EQ(Hex(enc), Hex(Acme().Encode()).replace(8, 2, "02") + "02");
  EXPECT_NE(fp8.Id(), Acme().Id());
  Namespace int8 = fp8;
  int8.codec = KvCodec::kInt8;
  EXPECT_NE(int8.Id(), fp8.Id());
  Result<Namespace> back = Namespace::Decode(enc);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->codec, KvCodec::kFp8);
  EXPECT_EQ(back->Id(), fp8.Id());
}

TEST(Namespace, ValidationRejectsBadInput) {
  Namespace ns = Acme();
  ns.model_id.clear();
  EXPECT_TRUE(ns.Validate().IsInvalidArgument());
  ns = Acme();
  ns.geometry.layers = 0;
  EXPECT_TRUE(ns.Validate().IsInvalidArgument());
  ns = Acme();
  ns.tenant = std::string(2000, 'x');
  EXPECT_TRUE(ns.Validate().IsInvalidArgument());
  ns = Acme();
  ns.codec = KvCodec::kLossless;  // variable-size objects: not storable
  EXPECT_EQ(ns.Validate().code(), StatusCode::kNotSupported);
  ns = Acme();
  ns.codec = KvCodec::kKivi2;
  EXPECT_TRUE(ns.Validate().ok());
  ns.geometry.dtype = KvDtype::kF8E4M3;  // already 8-bit
  EXPECT_TRUE(ns.Validate().IsInvalidArgument());
}

TEST(Id128, HexRoundTrip) {
  BlockKey k = Acme().Root();
  BlockKey back;
  ASSERT_TRUE(BlockKey::FromHex(k.ToHex(), &back));
  EXPECT_EQ(k, back);
  EXPECT_FALSE(BlockKey::FromHex("xyz", &back));
  EXPECT_FALSE(BlockKey::FromHex(std::string(32, 'g'), &back));
  EXPECT_TRUE(BlockKey().IsZero());
}

}  // namespace
}  // namespace tw
