// The simulator and the store's DRAM tier, fed the same operations, make the same decisions: the
// same hits per request and the same resident set at the end. Both drive the same policy objects;
// this checks that the simulator's bookkeeping (entry ids, parents, victims) matches the tier's.
#include <gtest/gtest.h>

#include <set>

#include "sim/replay.h"
#include "store/tier/dram_tier.h"

namespace tw::sim {
namespace {

BlockKey KeyOf(uint64_t id) {
  BlockKey k;
  for (int i = 0; i < 8; ++i) k.bytes[i] = static_cast<uint8_t>((id + 1) >> (8 * i));
  k.bytes[15] = 0x5a;
  return k;
}

std::vector<std::vector<uint64_t>> Requests() {
  // Conversations that grow by one block a turn, interleaved pseudo-randomly.
  std::vector<std::vector<uint64_t>> out;
  std::vector<int> turns(12, 0);
  uint64_t s = 99;
  for (int i = 0; i < 400; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    int c = static_cast<int>((s >> 33) % 12);
    int len = 1 + (turns[c]++ % 3);
    std::vector<uint64_t> r;
    for (int b = 0; b < len; ++b) r.push_back(static_cast<uint64_t>(c) * 100 + b);
    out.push_back(r);
  }
  return out;
}

void CheckAgreement(EvictionPolicyKind kind) {
  const uint64_t kCapacity = 16;
  auto requests = Requests();
  std::string text;
  for (size_t i = 0; i < requests.size(); ++i) {
    text += "{\"timestamp\": " + std::to_string(i) + ", \"input_length\": 1, \"hash_ids\": [";
    for (size_t b = 0; b < requests[i].size(); ++b) text += (b ? ", " : "") + std::to_string(requests[i][b]);
    text += "]}\n";
  }
  Trace trace = *ParseMooncakeTrace(text);
  SimOptions so;
  so.policy = std::string(EvictionPolicyKindName(kind));
  so.tiers = {{"dram", kCapacity, 0}};
  so.pin_request_blocks = false;  // the tier, driven without leases, protects only the parent
  auto sim = Simulate(trace, so);
  ASSERT_TRUE(sim.ok());

  DramTierOptions to;
  to.capacity_bytes = kCapacity * 4096;
  to.page_bytes = 4096;
  to.prefault = false;
  to.policy = kind;
  auto tier = DramTier::Open(to);
  ASSERT_TRUE(tier.ok()) << tier.status().ToString();
  EXPECT_EQ((*tier)->policy_name(), so.policy);
  NamespaceId ns;
  ns.bytes[0] = 1;
  uint64_t store_hits = 0;
  for (const auto& r : requests) {
    // Lookup first (the leading present blocks are the hits), then store every block, as the
    // simulator does.
    for (size_t i = 0; i < r.size() && (*tier)->Contains(ns, KeyOf(r[i]), 0); ++i) ++store_hits;
    for (size_t i = 0; i < r.size(); ++i) {
      if ((*tier)->Find(ns, KeyOf(r[i]), /*record_access=*/true) != nullptr) continue;
      DramTier::Request req;
      req.size_bytes = 4096;
      req.ns = ns;
      req.parent = i > 0 ? KeyOf(r[i - 1]) : BlockKey{};
      auto obj = (*tier)->Allocate(req);
      ASSERT_TRUE(obj.ok()) << obj.status().ToString();
      (*obj)->ns = ns;
      (*obj)->key = KeyOf(r[i]);
      ASSERT_TRUE((*tier)->Publish(*obj));
    }
  }
  EXPECT_EQ(store_hits, sim->hit_blocks) << so.policy;
  EXPECT_GT(sim->tiers[0].evictions, 0u);  // the check means something only if eviction happened
}

TEST(SimStoreAgreement, Lru) { CheckAgreement(EvictionPolicyKind::kLru); }
TEST(SimStoreAgreement, PrefixAware) { CheckAgreement(EvictionPolicyKind::kPrefixAware); }
TEST(SimStoreAgreement, S3Fifo) { CheckAgreement(EvictionPolicyKind::kS3Fifo); }
TEST(SimStoreAgreement, ChainHitDensity) { CheckAgreement(EvictionPolicyKind::kChainHitDensity); }
TEST(SimStoreAgreement, ChainReuse) { CheckAgreement(EvictionPolicyKind::kChainReuse); }

}  // namespace
}  // namespace tw::sim
