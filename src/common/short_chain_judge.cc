#include "common/short_chain_judge.h"

namespace tw {

bool ShortChainJudge::Skip(const NamespaceId& ns, const BlockKey& root, uint32_t block_tokens,
                           uint32_t min_prefix_tokens, std::span<const BlockRef> chain) {
  if (min_prefix_tokens == 0 || chain.empty()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  bool skip = tails_.count({ns, chain.front().parent}) > 0;
  if (!skip && chain.front().parent == root) {
    // Only one chain, in order, is judged by its length.
    bool one_chain = true;
    for (size_t i = 1; i < chain.size() && one_chain; ++i) one_chain = chain[i].parent == chain[i - 1].key;
    skip = one_chain && uint64_t{chain.size()} * block_tokens < min_prefix_tokens;
  }
  if (!skip) return false;
  if (tails_.insert({ns, chain.back().key}).second) {
    order_.push_back({ns, chain.back().key});
    if (order_.size() > capacity_) {
      tails_.erase(order_.front());
      order_.pop_front();
    }
  }
  return true;
}

size_t ShortChainJudge::remembered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return order_.size();
}

}  // namespace tw
