#include "store/lease_table.h"

#include <unordered_set>

#include "common/clock.h"
#include "store/tier/dram_object.h"

namespace tw {

LeaseTable::~LeaseTable() {
  for (auto& [id, lease] : leases_) Unpin(lease);
}

void LeaseTable::Unpin(const Lease& lease) {
  for (const auto& obj : lease.objects) obj->pins.fetch_sub(1, std::memory_order_acq_rel);
}

LeaseId LeaseTable::Grant(std::vector<std::shared_ptr<DramObject>> objects, uint64_t lease_ms) {
  for (const auto& obj : objects) obj->pins.fetch_add(1, std::memory_order_acq_rel);
  const uint64_t deadline = clock_->NowMs() + lease_ms;
  std::lock_guard<std::mutex> lock(mu_);
  LeaseId id = next_id_++;
  leases_.emplace(id, Lease{deadline, std::move(objects)});
  by_deadline_.emplace(deadline, id);
  return id;
}

Status LeaseTable::Release(LeaseId id) {
  Lease lease;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (id == 0 || id >= next_id_) return Status::InvalidArgument("lease " + std::to_string(id) + " was never issued");
    auto it = leases_.find(id);
    if (it == leases_.end()) return Status::DeadlineExceeded("lease " + std::to_string(id) + " expired or was released");
    lease = std::move(it->second);
    leases_.erase(it);
    auto [lo, hi] = by_deadline_.equal_range(lease.deadline_ms);
    for (auto d = lo; d != hi; ++d) {
      if (d->second == id) {
        by_deadline_.erase(d);
        break;
      }
    }
  }
  Unpin(lease);
  return Status::Ok();
}

size_t LeaseTable::Reap() {
  std::vector<Lease> expired;
  {
    const uint64_t now = clock_->NowMs();
    std::lock_guard<std::mutex> lock(mu_);
    while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
      auto node = leases_.extract(by_deadline_.begin()->second);
      expired.push_back(std::move(node.mapped()));
      by_deadline_.erase(by_deadline_.begin());
    }
  }
  for (const Lease& lease : expired) Unpin(lease);
  return expired.size();
}

uint64_t LeaseTable::active_leases() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leases_.size();
}

uint64_t LeaseTable::pinned_objects() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::unordered_set<const DramObject*> seen;
  for (const auto& [id, lease] : leases_) {
    for (const auto& obj : lease.objects) seen.insert(obj.get());
  }
  return seen.size();
}

}  // namespace tw
