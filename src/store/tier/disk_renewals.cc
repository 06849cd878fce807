// DiskTier's sliding retention: renewing a deadline on a hit, saving the renewed deadlines in the
// renewal file in batches, and applying them at open.
//
// Why not a write per hit: a hit on a hot prefix happens many times a second, and the record that
// holds the deadline is immutable and checksummed. The index entry takes the renewal at once (a
// shard lock and a store); the writer thread saves the set of renewed, unexpired deadlines at most
// renewal_flush_ms later, whole, into the older of two slot files.
#include <algorithm>

#include "common/logging.h"
#include "store/tier/disk_tier.h"

namespace tw {

std::optional<uint64_t> DiskTier::Renew(const NamespaceId& ns, const BlockKey& key, uint64_t expires_at_ms) {
  const IndexKey k{ns, key};
  const uint64_t now = clock_->NowMs();
  bool renewed = false;
  std::optional<uint64_t> held;
  {
    Shard& s = ShardOf(k);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(k);
    if (it != s.map.end()) {
      Entry& e = it->second;
      // An expired deadline stays expired: the object has been a miss since, and must stay one.
      if (Expired(e, now)) return std::nullopt;
      if (e.expires_at_ms && e.expires_at_ms < expires_at_ms) {
        e.expires_at_ms = expires_at_ms;
        e.renewed = renewed = true;
      }
      held = e.expires_at_ms;
    }
  }
  if (!held) {
    std::lock_guard<std::mutex> lock(queue_mu_);
    auto it = pending_.find(k);
    if (it == pending_.end()) return std::nullopt;
    Pending& p = *it->second;
    const uint64_t deadline = p.expires_at_ms.load(std::memory_order_relaxed);
    if (deadline && now >= deadline) return std::nullopt;
    if (deadline && deadline < expires_at_ms) {
      p.expires_at_ms.store(expires_at_ms, std::memory_order_relaxed);
      p.renewed.store(true, std::memory_order_relaxed);
      renewed = true;
    }
    held = p.expires_at_ms.load(std::memory_order_relaxed);
  }
  uint64_t none = 0;
  if (renewed && renewals_unsaved_since_ns_.compare_exchange_strong(none, std::max<uint64_t>(MonotonicNanos(), 1))) {
    // The first unsaved renewal: the writer may be asleep with nothing due, so wake it to schedule
    // the save. Taking queue_mu_ orders this against its check-then-wait (no lost wake-up); it
    // happens once per flush interval, not per hit.
    std::lock_guard<std::mutex> lock(queue_mu_);
    queue_cv_.notify_all();
  }
  return held;
}

uint64_t DiskTier::RenewalsDueNs() const {
  const uint64_t since = renewals_unsaved_since_ns_.load(std::memory_order_relaxed);
  if (!since || options_.renewal_flush_ms == 0) return 0;
  return since + options_.renewal_flush_ms * 1'000'000;
}

void DiskTier::SaveRenewals() {
  if (renewals_unsaved_since_ns_.exchange(0) == 0) return;
  // Cleared before the scan: a renewal landing during it sets the mark again and is saved next
  // time (or by this scan, if its shard is visited after it).
  std::vector<Renewal> renewals;
  const uint64_t now = clock_->NowMs();
  for (Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    for (const auto& [k, e] : shard.map) {
      if (e.renewed && !Expired(e, now)) renewals.push_back(Renewal{k.ns, k.key, WallFromStore(e.expires_at_ms)});
    }
  }
  // Still queued: the record's header carries its deadline as it was when queued.
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    for (const auto& [k, p] : pending_) {
      const uint64_t deadline = p->expires_at_ms.load(std::memory_order_relaxed);
      if (p->renewed.load(std::memory_order_relaxed) && deadline > now) {
        renewals.push_back(Renewal{k.ns, k.key, WallFromStore(deadline)});
      }
    }
  }
  if (Status s = renewal_file_.Save(renewals); !s.ok()) {
    // Not worth stopping the tier for: the records' own deadlines are earlier, so nothing is
    // served late; sliding objects may expire early after a restart. Retry at the next interval.
    TW_LOG_WARN("disk tier {}: cannot save renewed deadlines: {}", options_.dir, s.ToString());
    uint64_t none = 0;
    renewals_unsaved_since_ns_.compare_exchange_strong(none, std::max<uint64_t>(MonotonicNanos(), 1));
  }
}

void DiskTier::ApplySavedRenewals() {
  uint64_t applied = 0;
  for (const Renewal& r : renewal_file_.Load()) {
    const IndexKey k{r.ns, r.key};
    const uint64_t deadline = StoreFromWall(r.expires_wall_ms);
    Shard& s = ShardOf(k);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(k);
    // Only ever later than the record's own deadline, and never for a persistent record (a
    // renewal of the same key from an earlier life of the object cannot shorten or bound it).
    if (it == s.map.end() || it->second.expires_at_ms == 0 || it->second.expires_at_ms >= deadline) continue;
    it->second.expires_at_ms = deadline;
    it->second.renewed = true;
    ++applied;
  }
  if (applied) TW_LOG_INFO("disk tier {}: {} renewed deadlines restored", options_.dir, applied);
}

}  // namespace tw
