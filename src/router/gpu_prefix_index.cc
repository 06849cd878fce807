#include "router/gpu_prefix_index.h"

#include "common/hash.h"

namespace tw::router {

namespace {

// The chain's seed: any constant; it only has to differ from hashes of real blocks.
constexpr uint64_t kChainRoot = 0x7477'726f'7574'6572ull;  // "twrouter"

// Token ids hashed as the engine's uint32 values in this machine's byte order: both sides of a match
// (events in, requests in) are hashed by this same process.
uint64_t ChainHash(uint64_t parent, std::span<const uint32_t> block) {
  return Checksum64(block.data(), block.size_bytes(), parent);
}

bool OnGpu(const VllmKvEvent& e) { return !e.medium || *e.medium == "GPU"; }

}  // namespace

void GpuPrefixIndex::Apply(const VllmKvEvent& e) {
  if (e.kind == VllmKvEvent::Kind::kAllBlocksCleared) {
    Clear();
    return;
  }
  if (!OnGpu(e)) return;
  std::lock_guard lock(mu_);
  if (e.kind == VllmKvEvent::Kind::kBlockRemoved) {
    for (const std::string& h : e.block_hashes) {
      auto it = vllm_to_chain_.find(h);
      if (it == vllm_to_chain_.end()) continue;
      auto ref = chain_refs_.find(it->second);
      if (ref != chain_refs_.end() && --ref->second == 0) chain_refs_.erase(ref);
      vllm_to_chain_.erase(it);
    }
    return;
  }
  // BlockStored. Events without tokens (a warehouse's own events carry keys only) or of another
  // block size (another KV cache group) cannot be placed in this index's chains.
  if (e.block_size == 0 || e.token_ids.size() != e.block_hashes.size() * e.block_size) return;
  if (block_size_ == 0) block_size_ = e.block_size;
  if (e.block_size != block_size_) return;
  uint64_t chain = kChainRoot;
  if (e.parent_block_hash) {
    auto parent = vllm_to_chain_.find(*e.parent_block_hash);
    if (parent == vllm_to_chain_.end()) {
      ++unknown_parent_;
      return;
    }
    chain = parent->second;
  }
  std::span<const uint32_t> tokens(e.token_ids);
  for (size_t i = 0; i < e.block_hashes.size(); ++i) {
    chain = ChainHash(chain, tokens.subspan(i * block_size_, block_size_));
    // vLLM re-announces blocks a request reused; a hash already known is not a second holder.
    if (vllm_to_chain_.emplace(e.block_hashes[i], chain).second) ++chain_refs_[chain];
  }
}

void GpuPrefixIndex::Clear() {
  std::lock_guard lock(mu_);
  vllm_to_chain_.clear();
  chain_refs_.clear();
}

uint32_t GpuPrefixIndex::LongestPrefixTokens(std::span<const uint32_t> tokens) const {
  std::lock_guard lock(mu_);
  if (block_size_ == 0 || chain_refs_.empty()) return 0;
  uint64_t chain = kChainRoot;
  uint32_t matched = 0;
  for (size_t at = 0; at + block_size_ <= tokens.size(); at += block_size_) {
    chain = ChainHash(chain, tokens.subspan(at, block_size_));
    if (!chain_refs_.contains(chain)) break;
    matched += block_size_;
  }
  return matched;
}

size_t GpuPrefixIndex::blocks() const {
  std::lock_guard lock(mu_);
  return vllm_to_chain_.size();
}

uint32_t GpuPrefixIndex::block_size() const {
  std::lock_guard lock(mu_);
  return block_size_;
}

uint64_t GpuPrefixIndex::unknown_parent() const {
  std::lock_guard lock(mu_);
  return unknown_parent_;
}

}  // namespace tw::router
