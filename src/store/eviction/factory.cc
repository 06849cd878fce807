// Maps EvictionPolicyKind to policy objects (the names live in src/store/policy_names.cc).
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

}  // namespace tw
