#include "cluster/rebalancer.h"

#include <algorithm>
#include <chrono>

#include "common/logging.h"

namespace tw::cluster {

Result<std::unique_ptr<Rebalancer>> Rebalancer::Start(const RebalancerOptions& options, EmbeddedStore* local,
                                                      std::shared_ptr<MemberSource> members, NodeStoreFactory factory) {
  if (options.self_id.empty() || !local || !members || !factory) {
    return Status::InvalidArgument("Rebalancer needs a node id, the local store, a member source and a factory");
  }
  if (options.replicas == 0 || options.bytes_per_s == 0) return Status::InvalidArgument("replicas and bytes_per_s must be > 0");
  std::unique_ptr<Rebalancer> r(new Rebalancer(options, local, std::move(members), std::move(factory)));
  r->thread_ = std::thread([p = r.get()] { p->Run(); });
  return r;
}

Rebalancer::Rebalancer(const RebalancerOptions& options, EmbeddedStore* local, std::shared_ptr<MemberSource> members,
                       NodeStoreFactory factory)
    : options_(options),
      local_(local),
      members_(std::move(members)),
      peers_(std::move(factory), options.suspect_ms, /*exact_namespaces=*/true),
      // Queue about a second of copies: enough to keep the link busy, small enough to stop promptly.
      copier_(&peers_, options.bytes_per_s, options.bytes_per_s) {}

Rebalancer::~Rebalancer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  thread_.join();
}

void Rebalancer::Kick() {
  std::lock_guard<std::mutex> lock(mu_);
  kicked_ = true;
  cv_.notify_all();
}

RebalancerStats Rebalancer::stats() const {
  RebalancerStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = stats_;
  }
  CopierStats c = copier_.stats();
  s.copies_done = c.copied;
  s.copy_bytes = c.copied_bytes;
  s.copy_failures = c.failed;
  s.backlog = c.queued + pending_.load();
  return s;
}

bool Rebalancer::WaitIdle(uint64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!kicked_ && !stats_.scanning && copier_.stats().queued == 0) {
        copier_.Drain();
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

uint32_t Rebalancer::ReplicasFor(const Namespace& nspace) const {
  auto it = options_.replicas_by_model.find(nspace.model_id);
  return it != options_.replicas_by_model.end() ? it->second : options_.replicas;
}

void Rebalancer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait(lock, [this] { return stop_ || kicked_; });
    if (stop_) break;
    // Changes come in bursts (a node leaves, then rejoins; several leases expire together): let them settle.
    cv_.wait_for(lock, std::chrono::milliseconds(options_.settle_ms), [this] { return stop_; });
    if (stop_) break;
    kicked_ = false;
    stats_.scanning = true;
    lock.unlock();
    const bool complete = Scan();
    lock.lock();
    stats_.scanning = false;
    ++stats_.scans;
    if (!complete && !stop_) {
      // A peer did not answer: try again later (its lease may expire meanwhile, changing the owners).
      cv_.wait_for(lock, std::chrono::milliseconds(options_.rescan_ms), [this] { return stop_ || kicked_; });
      kicked_ = true;
    }
  }
}

bool Rebalancer::Scan() {
  auto list = members_->Current();
  if (!list || !list->Find(options_.self_id)) return true;  // not a member now: owners unknown
  Placement placement(*list, PlacementOptions{.replicas = options_.replicas, .join_ramp_ms = options_.join_ramp_ms}, WallNowMs());
  const int self = placement.IndexOf(options_.self_id);

  // Collect first, then check: the visitor must not block the store's shards on network calls.
  struct Item {
    Namespace nspace;
    NamespaceOptions options;
    BlockKey key;
  };
  std::vector<Item> items;
  local_->ForEachObject([&](const Namespace& nspace, const NamespaceOptions& options, const BlockKey& key) {
    items.push_back(Item{nspace, options, key});
    return true;
  });
  pending_.store(items.size());
  bool complete = true;
  uint64_t under = 0, peer_errors = 0;
  uint64_t hist[4] = {};
  for (const Item& item : items) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_ || kicked_) {
        complete = false;  // membership changed mid-scan: start over with the new owners
        break;
      }
    }
    pending_.fetch_sub(1);
    const NamespaceId ns = item.nspace.Id();
    peers_.AddNamespace(ns, item.nspace, item.options);
    const uint32_t r = ReplicasFor(item.nspace);
    const std::vector<size_t> owners = placement.Owners(item.key, r);
    std::vector<size_t> lacking;
    bool better_holder = false;  // an owner ranked above this node (or any owner, if this node is not one) has it
    bool self_seen = false;
    bool unknown = false;
    uint32_t copies = 1;  // this node's
    for (size_t o : owners) {
      if (static_cast<int>(o) == self) {
        self_seen = true;
        continue;
      }
      bool has = false;
      auto bound = peers_.Bind(placement.member(o), ns);
      Status s = bound.status();
      if (bound.ok()) {
        auto res = bound->store->Lookup(bound->ns, std::span<const BlockKey>(&item.key, 1));
        s = res.status();
        has = res.ok() && res->matched == 1;
      }
      peers_.Record(placement.member(o).node_id, s);
      if (s.code() == StatusCode::kPermissionDenied && !warned_peer_identity_.exchange(true)) {
        TW_LOG_WARN("cluster: cannot re-replicate: {}", s.ToString());  // a config error: say it once
      }
      if (!s.ok()) {
        TW_LOG_DEBUG("cluster: asking {} for {}: {}", placement.member(o).node_id, item.key.ToHex(), s.ToString());
        unknown = true;
        ++peer_errors;
        continue;
      }
      if (has) {
        ++copies;
        if (!self_seen) better_holder = true;
      } else {
        lacking.push_back(o);
      }
    }
    ++hist[std::min<uint32_t>(copies, 4) - 1];
    if (copies < r && copies < placement.size()) ++under;
    if (unknown) complete = false;
    if (better_holder || lacking.empty()) continue;
    // This node is responsible. Read the object once; queue one copy per owner that lacks it.
    std::vector<std::byte> data(item.nspace.ObjectBytes());
    if (!local_->ReadForCopy(ns, item.key, data).ok()) continue;  // evicted meanwhile: nothing to save
    // Copies keep this object's deadline (never a fresh one: that would resurrect it for a whole
    // retention). An object that expired since the scan is not copied at all.
    const std::optional<uint64_t> expires_in_ms = local_->ExpiresInMs(ns, item.key);
    if (!expires_in_ms) continue;
    for (size_t o : lacking) {
      // Backpressure: wait for the copier rather than dropping work the scan already paid for.
      while (copier_.stats().queued_bytes + data.size() > options_.bytes_per_s && copier_.stats().queued > 0) {
        std::unique_lock<std::mutex> lock(mu_);
        if (cv_.wait_for(lock, std::chrono::milliseconds(20), [this] { return stop_; })) return false;
      }
      if (copier_.Offer(CopyTask{placement.member(o), ns, item.key, data, *expires_in_ms})) {
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.copies_queued;
      }
    }
  }
  pending_.store(0);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.objects_scanned = items.size();
  stats_.under_replicated = under;
  std::copy(std::begin(hist), std::end(hist), std::begin(stats_.replica_histogram));
  stats_.peer_errors += peer_errors;
  if (under > 0 || peer_errors > 0) {
    TW_LOG_INFO("cluster: scanned {} objects: {} under-replicated, {} peer errors; copying at {} MiB/s",
                items.size(), under, peer_errors, options_.bytes_per_s >> 20);
  }
  return complete;
}

}  // namespace tw::cluster
