// Maps EvictionPolicyKind to policy objects and stable names, for the store and the tools.
#include <string>

#include "store/eviction/policy.h"

namespace tw {

std::unique_ptr<EvictionPolicy> NewEvictionPolicy(EvictionPolicyKind kind, uint32_t max_entries) {
  switch (kind) {
    case EvictionPolicyKind::kLru: return NewLruPolicy(max_entries);
    case EvictionPolicyKind::kPrefixAware: return NewPrefixAwarePolicy(max_entries);
    case EvictionPolicyKind::kS3Fifo: return NewS3FifoPolicy(max_entries);
    case EvictionPolicyKind::kChainHitDensity: return NewChainHitDensityPolicy(max_entries);
    case EvictionPolicyKind::kChainReuse: return NewChainReusePolicy(max_entries);
  }
  return nullptr;
}

std::string_view EvictionPolicyKindName(EvictionPolicyKind kind) {
  switch (kind) {
    case EvictionPolicyKind::kLru: return "lru";
    case EvictionPolicyKind::kPrefixAware: return "prefix-aware";
    case EvictionPolicyKind::kS3Fifo: return "s3fifo";
    case EvictionPolicyKind::kChainHitDensity: return "chain-hd";
    case EvictionPolicyKind::kChainReuse: return "chain-reuse";
  }
  return "unknown";
}

Result<EvictionPolicyKind> ParseEvictionPolicyKind(std::string_view name) {
  for (EvictionPolicyKind kind : {EvictionPolicyKind::kLru, EvictionPolicyKind::kPrefixAware,
                                  EvictionPolicyKind::kS3Fifo, EvictionPolicyKind::kChainHitDensity,
                                  EvictionPolicyKind::kChainReuse}) {
    if (name == EvictionPolicyKindName(kind)) return kind;
  }
  return Status::InvalidArgument("unknown eviction policy '" + std::string(name) +
                                 "' (expected lru, prefix-aware, s3fifo, chain-hd or chain-reuse)");
}

}  // namespace tw
