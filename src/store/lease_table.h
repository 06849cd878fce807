// LeaseTable: time-bounded pins. A lease holds a set of objects; while it lives each object's pin
// count is raised, so the tier will not evict it. A lease ends on Release or when it expires;
// expiry is applied lazily by Reap, which the tier runs before it picks an eviction victim, so an
// expired lease never blocks eviction and nobody has to remember to unpin.
//
// Thread-safe: one mutex, never held while calling out.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tw/status.h"
#include "tw/store.h"

namespace tw {

class Clock;
struct DramObject;

class LeaseTable {
 public:
  explicit LeaseTable(const Clock* clock) : clock_(clock) {}
  ~LeaseTable();

  // Pins `objects` until now + lease_ms. lease_ms must be > 0 (checked by the caller).
  LeaseId Grant(std::vector<std::shared_ptr<DramObject>> objects, uint64_t lease_ms);
  // kDeadlineExceeded if the lease expired or was already released; kInvalidArgument if never issued.
  Status Release(LeaseId id);
  // Ends every lease whose deadline has passed. Returns how many ended.
  size_t Reap();

  uint64_t active_leases() const;
  // Objects pinned by at least one lease.
  uint64_t pinned_objects() const;

 private:
  struct Lease {
    uint64_t deadline_ms;
    std::vector<std::shared_ptr<DramObject>> objects;
  };
  static void Unpin(const Lease& lease);

  const Clock* clock_;
  mutable std::mutex mu_;
  LeaseId next_id_ = 1;
  std::unordered_map<LeaseId, Lease> leases_;
  std::multimap<uint64_t, LeaseId> by_deadline_;
};

}  // namespace tw
