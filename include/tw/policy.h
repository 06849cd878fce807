// The store's policy choices, with their stable names: what a configuration file, a flag or the
// simulator spells, parsed in one place. A leaf header: it needs nothing of the store.
#pragma once

#include <cstdint>
#include <string_view>

#include "tw/result.h"

namespace tw {

// What the disk tier is offered. Whatever is offered, the tier skips objects already on disk.
enum class DiskAdmission : uint8_t {
  // Default: an object goes to disk when DRAM evicts it. DRAM serves hot objects without costing
  // disk bandwidth, and only what DRAM cannot hold is written; the price is that objects still
  // in DRAM are lost on a crash (they are a cache: a recompute, never a wrong answer).
  kOnEvict = 1,
  // Also queue every Put for disk: everything survives a restart soon after it is stored, at the
  // cost of writing objects DRAM alone would have served.
  kWriteThrough = 2,
};

// Which eviction policy orders the DRAM tier. See docs/design.md for how each behaves.
enum class EvictionPolicyKind : uint8_t {
  kLru = 1,
  kPrefixAware = 2,  // LRU over chain leaves: a child always goes before its parent
  kS3Fifo = 3,       // S3-FIFO: a small probation FIFO filters blocks read once
  kChainHitDensity = 4,  // prefix-aware order; chains whose turn level tends to come back kept longer
  kChainReuse = 5,       // chain-hd with richer reuse classes learned past eviction (the default)
};

// Stable names: "lru", "prefix-aware", "s3fifo", "chain-hd", "chain-reuse"; "unknown" outside the enum.
std::string_view EvictionPolicyKindName(EvictionPolicyKind kind);
// kInvalidArgument, listing the names, for any other name.
Result<EvictionPolicyKind> ParseEvictionPolicyKind(std::string_view name);

// Stable names: "on_evict", "write_through"; "unknown" outside the enum.
std::string_view DiskAdmissionName(DiskAdmission admission);
// kInvalidArgument, listing the names, for any other name.
Result<DiskAdmission> ParseDiskAdmission(std::string_view name);

}  // namespace tw
