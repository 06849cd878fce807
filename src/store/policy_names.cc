// The stable names of the store's policy choices (tw/policy.h).
#include <string>

#include "tw/policy.h"

namespace tw {

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

std::string_view DiskAdmissionName(DiskAdmission admission) {
  switch (admission) {
    case DiskAdmission::kOnEvict: return "on_evict";
    case DiskAdmission::kWriteThrough: return "write_through";
  }
  return "unknown";
}

Result<DiskAdmission> ParseDiskAdmission(std::string_view name) {
  for (DiskAdmission a : {DiskAdmission::kOnEvict, DiskAdmission::kWriteThrough}) {
    if (name == DiskAdmissionName(a)) return a;
  }
  return Status::InvalidArgument("unknown disk admission '" + std::string(name) + "' (expected on_evict or write_through)");
}

}  // namespace tw
