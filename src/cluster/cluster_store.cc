// ClusterStore. Every call takes one membership snapshot and one Placement, so it never sees the
// cluster change halfway; node calls run in parallel (one task per node group, on a fixed pool of
// threads the calling thread also works in: fan_out.h) and no lock is held across them.
#include "cluster/cluster_store.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "cluster/copier.h"
#include "common/fan_out.h"
#include "common/short_chain_judge.h"
#include "common/logging.h"

namespace tw::cluster {
namespace {

// A node that answers kFailedPrecondition does not know the namespace (it restarted): re-register.
bool UnknownNamespace(const Status& s) { return s.IsFailedPrecondition(); }

// What a node's batch answer says about the call as a whole. A store may report an unknown
// namespace per item (the default batch forms call Put/Get per item) rather than as the batch's
// transport: the namespace is the whole batch's, so its first item speaks for all of them.
Status BatchCallStatus(const BatchStatus& bs) {
  if (bs.transport.ok() && !bs.items.empty() && UnknownNamespace(bs.items[0])) return bs.items[0];
  return bs.transport;
}

// A lookup's knowledge of one (key, replica) pair.
enum class Seen : uint8_t { kUnknown, kPresent, kAbsent };

}  // namespace

class ClusterStore::Impl {
 public:
  Impl(Store* outer, const ClusterStoreOptions& options, std::shared_ptr<MemberSource> members, NodeStoreFactory factory)
      : outer_(outer), options_(options), members_(std::move(members)), peers_(std::move(factory), options.suspect_ms) {
    if (options_.repair_bytes_per_s > 0) {
      copier_ = std::make_unique<Copier>(&peers_, options_.repair_bytes_per_s, options_.repair_bytes_per_s);
    }
  }

  struct View {
    std::shared_ptr<const MemberList> list;
    Placement placement;
  };
  View Snapshot() const {
    auto list = members_->Current();
    if (!list) list = std::make_shared<MemberList>();
    Placement p(*list, PlacementOptions{.replicas = options_.replicas, .join_ramp_ms = options_.join_ramp_ms}, WallNowMs());
    return View{list, std::move(p)};
  }

  // Suspect nodes go last, keeping the order otherwise: they are tried only if everyone else failed.
  std::vector<size_t> SuspectsLast(const Placement& p, std::vector<size_t> order) const {
    std::stable_partition(order.begin(), order.end(), [&](size_t i) { return !peers_.Suspect(p.member(i).node_id); });
    return order;
  }
  std::vector<size_t> ReadCandidates(const Placement& p, const BlockKey& key, uint32_t r, bool wide) const {
    std::vector<size_t> order = p.ReadOrder(key, r);
    if (wide) {
      // Point reads also try two more ranks: a put that found owners down wrote there.
      const size_t want = order.size() + 2;
      for (size_t i : p.Rank(key)) {
        if (order.size() >= want) break;
        if (std::find(order.begin(), order.end(), i) == order.end()) order.push_back(i);
      }
    }
    return SuspectsLast(p, std::move(order));
  }

  // Calls fn(bound) on the node; re-registers the namespace once if the node forgot it (restarted).
  template <typename F>
  Status CallNode(const Member& m, const NamespaceId& ns, F&& fn) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto bound = peers_.Bind(m, ns);
      if (!bound.ok()) {
        peers_.Record(m.node_id, bound.status());
        return bound.status();
      }
      Status s = fn(*bound);
      peers_.Record(m.node_id, s);
      if (attempt == 0 && UnknownNamespace(s)) {
        peers_.Unbind(m.node_id, ns);
        continue;
      }
      return s;
    }
    return Status::Internal("unreachable");
  }

  Status CheckNamespace(const NamespaceId& ns) const {
    if (!peers_.KnowsNamespace(ns)) return Status::FailedPrecondition("unknown namespace " + ns.ToHex() + ": register it first");
    return Status::Ok();
  }

  uint32_t ReplicasOf(const NamespaceId& ns) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = replicas_.find(ns);
    return it == replicas_.end() ? 0 : it->second;
  }

  Result<NamespaceId> RegisterNamespace(const Namespace& nspace, const NamespaceOptions& options) {
    TW_RETURN_IF_ERROR(nspace.Validate());
    const NamespaceId id = nspace.Id();
    uint32_t r = options_.replicas;
    auto it = options_.replicas_by_model.find(nspace.model_id);
    if (it != options_.replicas_by_model.end()) r = it->second;
    if (r == 0) return Status::InvalidArgument("a namespace needs at least one replica");
    peers_.AddNamespace(id, nspace, options);
    std::lock_guard<std::mutex> lock(mu_);
    replicas_[id] = r;
    // As in the embedded store: the smallest asked so far applies (0 counts: store everything).
    auto [m, inserted] = min_prefix_tokens_.emplace(id, options.min_prefix_tokens);
    if (!inserted) m->second = std::min(m->second, options.min_prefix_tokens);
    return id;
  }

  // min_prefix_tokens, judged here because no node can: each holds a block as a chain head (its
  // parent lives on another node) and is registered with 1. The embedded store's rule
  // (common/short_chain_judge.h); counted in Stats' skipped_short.
  bool SkipShortChain(const NamespaceId& ns, std::span<const PutItem> items) {
    uint32_t min_tokens = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = min_prefix_tokens_.find(ns);
      if (it != min_prefix_tokens_.end()) min_tokens = it->second;
    }
    const Namespace* nspace = peers_.FindNamespace(ns);
    if (min_tokens == 0 || items.empty() || nspace == nullptr) return false;
    std::vector<BlockRef> chain;
    chain.reserve(items.size());
    for (const PutItem& item : items) chain.push_back(item.ref);
    if (!short_chains_.Skip(ns, nspace->Root(), nspace->geometry.block_tokens, min_tokens, chain)) return false;
    skipped_short_.fetch_add(items.size(), std::memory_order_relaxed);
    return true;
  }

  uint32_t BlockTokens(const NamespaceId& ns) const {
    const Namespace* nspace = peers_.FindNamespace(ns);
    return nspace ? nspace->geometry.block_tokens : 0;
  }

  Result<LookupResult> Lookup(const NamespaceId& ns, std::span<const BlockKey> keys) {
    TW_RETURN_IF_ERROR(CheckNamespace(ns));
    LookupResult out;
    const size_t n = keys.size();
    if (n == 0) return out;
    View v = Snapshot();
    if (v.placement.size() == 0) return Status::Unavailable("the cluster has no live nodes");
    const uint32_t r = ReplicasOf(ns);
    std::vector<std::vector<size_t>> reads(n);
    std::vector<std::vector<Seen>> seen(n);
    for (size_t i = 0; i < n; ++i) {
      reads[i] = ReadCandidates(v.placement, keys[i], r, /*wide=*/false);
      seen[i].assign(reads[i].size(), Seen::kUnknown);
    }
    std::vector<bool> present(n, false);
    std::vector<Tier> tiers(n, Tier::kNone);
    auto first_open = [&] {
      size_t f = 0;
      while (f < n && present[f]) ++f;
      return f;
    };
    auto all_absent = [&](size_t i) {
      return std::all_of(seen[i].begin(), seen[i].end(), [](Seen s) { return s == Seen::kAbsent; });
    };
    // Each round asks every replica still in doubt about keys from the first unresolved one up to
    // the first key known to be absent everywhere. Every round settles at least one (key, replica)
    // pair, so it ends; the cap only bounds pathological cases (and then, when in doubt, miss).
    for (int round = 0; round < 8; ++round) {
      const size_t f = first_open();
      if (f == n) break;
      size_t cut = f;
      while (cut < n && !all_absent(cut)) ++cut;
      if (cut == f) break;
      struct Ask {
        size_t node;
        std::vector<std::pair<size_t, size_t>> items;  // (key index, replica slot)
        std::vector<BlockKey> keys;
        Status status;
        LookupResult result;
      };
      std::vector<Ask> asks;
      std::unordered_map<size_t, size_t> ask_of;
      for (size_t i = f; i < cut; ++i) {
        if (present[i]) continue;
        for (size_t j = 0; j < reads[i].size(); ++j) {
          if (seen[i][j] != Seen::kUnknown) continue;
          auto [it, inserted] = ask_of.emplace(reads[i][j], asks.size());
          if (inserted) asks.push_back(Ask{reads[i][j], {}, {}, {}, {}});
          asks[it->second].items.emplace_back(i, j);
          asks[it->second].keys.push_back(keys[i]);
        }
      }
      if (asks.empty()) break;
      fan_out_.For(asks.size(), [&](size_t a) {
        Ask& ask = asks[a];
        ask.status = CallNode(v.placement.member(ask.node), ns, [&](PeerSet::Bound& b) {
          auto res = b.store->Lookup(b.ns, ask.keys);
          if (!res.ok()) return res.status();
          ask.result = std::move(*res);
          return Status::Ok();
        });
      });
      for (Ask& ask : asks) {
        const size_t m = ask.status.ok() ? std::min(ask.result.matched, ask.items.size()) : 0;
        for (size_t k = 0; k < ask.items.size(); ++k) {
          auto [i, j] = ask.items[k];
          if (!ask.status.ok() || k == m) {
            seen[i][j] = Seen::kAbsent;  // a node that does not answer holds nothing we can use
          } else if (k < m) {
            seen[i][j] = Seen::kPresent;
            if (!present[i]) {
              present[i] = true;
              tiers[i] = k < ask.result.tiers.size() ? ask.result.tiers[k] : Tier::kPeer;
            }
          }
        }
      }
    }
    out.matched = first_open();
    out.tiers.assign(tiers.begin(), tiers.begin() + out.matched);
    out.usage = LookupUsage(n, out.tiers, BlockTokens(ns));
    return out;
  }

  Status Get(const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out, const KvSlice& slice) {
    TW_RETURN_IF_ERROR(CheckNamespace(ns));
    View v = Snapshot();
    if (v.placement.size() == 0) return Status::Unavailable("the cluster has no live nodes");
    return GetFrom(v, ns, key, out, slice, ReadCandidates(v.placement, key, ReplicasOf(ns), /*wide=*/true), 0);
  }

  // Tries candidates[start..] in order. A hit after owners that missed queues a read repair.
  Status GetFrom(const View& v, const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out,
                 const KvSlice& slice, const std::vector<size_t>& candidates, size_t start) {
    const uint32_t r = ReplicasOf(ns);
    const std::vector<size_t> owners = v.placement.Owners(key, r);
    std::vector<size_t> missed;  // owners that answered "not here"
    bool any_answer = false;
    Status last = Status::NotFound();
    for (size_t c = start; c < candidates.size(); ++c) {
      const size_t node = candidates[c];
      Status s = CallNode(v.placement.member(node), ns,
                          [&](PeerSet::Bound& b) { return b.store->Get(b.ns, key, out, slice); });
      if (s.ok()) {
        if (c > 0) read_failovers_.fetch_add(1, std::memory_order_relaxed);
        if (!missed.empty() && slice.IsAll()) Repair(v, ns, key, out, missed);
        return s;
      }
      if (s.IsNotFound()) {
        any_answer = true;
        if (std::find(owners.begin(), owners.end(), node) != owners.end()) missed.push_back(node);
        continue;
      }
      if (IsNodeFailure(s) || s.IsCorruption() || s.IsResourceExhausted()) {
        last = s;
        continue;
      }
      return s;  // the request itself is wrong (size, slice): every node would say the same
    }
    if (any_answer) return Status::NotFound();
    read_failures_.fetch_add(1, std::memory_order_relaxed);
    return last.WithContext("no replica answered");
  }

  void Repair(const View& v, const NamespaceId& ns, const BlockKey& key, std::span<const std::byte> data,
              const std::vector<size_t>& targets) {
    if (!copier_) return;
    // A client does not learn an object's deadline from a read, so its copy would start a fresh
    // one: under a fixed retention that could serve the object past its deadline, so no repair
    // (the owner that missed gets it at the next store). Under a sliding one the read that found it
    // is a hit, which renews the deadline anyway.
    std::optional<NamespaceOptions> options = peers_.OptionsOf(ns);
    if (!options || (options->ttl_ms != 0 && !options->ttl_sliding)) return;
    for (size_t t : targets) {
      CopyTask task{v.placement.member(t), ns, key, std::vector<std::byte>(data.begin(), data.end())};
      if (!copier_->Offer(std::move(task))) break;
    }
  }

  BatchStatus GetBatch(const NamespaceId& ns, std::span<const GetItem> items) {
    BatchStatus out;
    out.transport = CheckNamespace(ns);
    if (!out.transport.ok()) return out;
    out.items.assign(items.size(), Status::NotFound());
    if (items.empty()) return out;
    View v = Snapshot();
    if (v.placement.size() == 0) {
      out.transport = Status::Unavailable("the cluster has no live nodes");
      return out;
    }
    const uint32_t r = ReplicasOf(ns);
    std::vector<std::vector<size_t>> cands(items.size());
    std::unordered_map<size_t, std::vector<size_t>> by_node;  // first candidate -> item indexes
    for (size_t i = 0; i < items.size(); ++i) {
      cands[i] = ReadCandidates(v.placement, items[i].key, r, /*wide=*/true);
      by_node[cands[i][0]].push_back(i);
    }
    std::vector<std::pair<size_t, std::vector<size_t>>> groups(by_node.begin(), by_node.end());
    fan_out_.For(groups.size(), [&](size_t g) {
      const auto& [node, idx] = groups[g];
      std::vector<GetItem> sub;
      for (size_t i : idx) sub.push_back(items[i]);
      BatchStatus bs;
      Status s = CallNode(v.placement.member(node), ns, [&](PeerSet::Bound& b) {
        bs = b.store->GetBatch(b.ns, sub);
        return BatchCallStatus(bs);
      });
      for (size_t k = 0; k < idx.size(); ++k) {
        const size_t i = idx[k];
        out.items[i] = s.ok() && k < bs.items.size() ? bs.items[k] : s;
        if (!out.items[i].ok() && (out.items[i].IsNotFound() || IsNodeFailure(out.items[i]) ||
                                   out.items[i].IsCorruption())) {
          // The first node missed or failed: walk the rest of this key's order, one call each.
          out.items[i] = GetFrom(v, ns, items[i].key, items[i].out, items[i].slice, cands[i], 1);
        }
      }
    });
    out.usage = ReadUsage(out.items, BlockTokens(ns));
    return out;
  }

  // A store request: judged against min_prefix_tokens, then stored. Its usage reports a skip;
  // what it stored is not reported (RequestUsage::reported false): each of the R nodes says what
  // its copy did, and a per-item answer across replicas is not collected.
  BatchStatus PutBatch(const NamespaceId& ns, std::span<const PutItem> items) {
    if (CheckNamespace(ns).ok() && SkipShortChain(ns, items)) {
      BatchStatus out;
      out.items.assign(items.size(), Status::Ok());
      out.usage.reported = true;
      out.usage.skipped_short_tokens = items.size() * uint64_t{BlockTokens(ns)};
      return out;
    }
    return PutCopies(ns, items);
  }

  // Stores every item on R nodes, unjudged.
  BatchStatus PutCopies(const NamespaceId& ns, std::span<const PutItem> items) {
    BatchStatus out;
    out.transport = CheckNamespace(ns);
    if (!out.transport.ok()) return out;
    out.items.assign(items.size(), Status::Ok());
    if (items.empty()) return out;
    View v = Snapshot();
    if (v.placement.size() == 0) {
      out.transport = Status::Unavailable("the cluster has no live nodes");
      return out;
    }
    const uint32_t r = std::min<uint32_t>(ReplicasOf(ns), static_cast<uint32_t>(v.placement.size()));
    const size_t n = items.size();
    std::vector<std::vector<size_t>> cands(n);
    std::vector<size_t> next(n, 0);
    std::vector<uint32_t> copies(n, 0);
    std::vector<Status> last(n);
    for (size_t i = 0; i < n; ++i) cands[i] = SuspectsLast(v.placement, v.placement.Rank(items[i].ref.key));
    // Each round sends every item still short of R copies to as many untried nodes as it lacks; a
    // failed node is replaced by the next in rank in the following round.
    while (true) {
      std::unordered_map<size_t, std::vector<size_t>> by_node;
      for (size_t i = 0; i < n; ++i) {
        for (uint32_t need = r - copies[i]; need > 0 && next[i] < cands[i].size(); --need) {
          by_node[cands[i][next[i]++]].push_back(i);
        }
      }
      if (by_node.empty()) break;
      std::vector<std::pair<size_t, std::vector<size_t>>> groups(by_node.begin(), by_node.end());
      std::vector<std::vector<Status>> results(groups.size());
      fan_out_.For(groups.size(), [&](size_t g) {
        const auto& [node, idx] = groups[g];
        BatchStatus bs;
        Status s = CallNode(v.placement.member(node), ns, [&](PeerSet::Bound& b) {
          std::vector<PutItem> sub;
          sub.reserve(idx.size());
          // Every node-side object is a chain head: its parent lives on some other node.
          for (size_t i : idx) sub.push_back(PutItem{BlockRef{items[i].ref.key, b.root}, items[i].data, items[i].expires_in_ms});
          bs = b.store->PutBatch(b.ns, sub);
          return BatchCallStatus(bs);
        });
        results[g].resize(idx.size());
        for (size_t k = 0; k < idx.size(); ++k) results[g][k] = s.ok() && k < bs.items.size() ? bs.items[k] : s;
      });
      for (size_t g = 0; g < groups.size(); ++g) {
        for (size_t k = 0; k < groups[g].second.size(); ++k) {
          const size_t i = groups[g].second[k];
          if (results[g][k].ok()) {
            ++copies[i];
          } else {
            last[i] = results[g][k];
          }
        }
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (copies[i] == 0) {
        out.items[i] = last[i].ok() ? Status::Unavailable("no node took the object") : last[i];
      } else if (copies[i] < ReplicasOf(ns)) {
        puts_under_replicated_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    return out;
  }

  Status Put(const NamespaceId& ns, const BlockRef& ref, std::span<const std::byte> data) {
    PutItem item{ref, data};
    BatchStatus bs = PutBatch(ns, std::span<const PutItem>(&item, 1));
    if (!bs.transport.ok()) return bs.transport;
    return bs.items[0];
  }

  Result<WriteHandle> Reserve(const NamespaceId& ns, const BlockRef& ref) {
    TW_RETURN_IF_ERROR(CheckNamespace(ns));
    const Namespace* nspace = peers_.FindNamespace(ns);
    // The object is assembled here and sent on Commit: a remote node's memory cannot be handed out.
    auto buffer = std::make_shared<std::vector<std::byte>>(nspace->ObjectBytes());
    std::vector<std::span<std::byte>> segments{std::span<std::byte>(*buffer)};
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t id = next_id_++;
    writes_.emplace(id, PendingWrite{ns, ref, std::move(buffer)});
    return WriteHandle(outer_, id, std::move(segments));
  }

  Status CommitWrite(uint64_t id) {
    PendingWrite w;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = writes_.find(id);
      if (it == writes_.end()) return Status::InvalidArgument("unknown reservation");
      w = std::move(it->second);
      writes_.erase(it);
    }
    // A reserved block is not judged (as in the embedded store): one block cannot tell its prompt.
    PutItem item{w.ref, *w.buffer};
    BatchStatus bs = PutCopies(w.ns, std::span<const PutItem>(&item, 1));
    return bs.transport.ok() ? bs.items[0] : bs.transport;
  }

  void AbortWrite(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    writes_.erase(id);
  }

  Result<ReadHandle> Acquire(const NamespaceId& ns, const BlockKey& key, uint64_t lease_ms) {
    TW_RETURN_IF_ERROR(CheckNamespace(ns));
    if (lease_ms == 0) return Status::InvalidArgument("lease_ms must be > 0");
    const Namespace* nspace = peers_.FindNamespace(ns);
    // A private copy: nothing on the node needs pinning while the caller reads it.
    auto buffer = std::make_shared<std::vector<std::byte>>(nspace->ObjectBytes());
    TW_RETURN_IF_ERROR(Get(ns, key, *buffer, KvSlice::All()));
    std::vector<std::span<const std::byte>> segments{std::span<const std::byte>(*buffer)};
    uint64_t id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      id = next_id_++;
    }
    return ReadHandle(outer_, id, std::move(segments), std::shared_ptr<const void>(buffer));
  }

  Result<LeaseId> Pin(const NamespaceId& ns, std::span<const BlockKey> keys, uint64_t lease_ms) {
    TW_RETURN_IF_ERROR(CheckNamespace(ns));
    if (lease_ms == 0) return Status::InvalidArgument("lease_ms must be > 0");
    if (keys.empty()) return Status::InvalidArgument("nothing to pin");
    View v = Snapshot();
    const uint32_t r = ReplicasOf(ns);
    std::vector<NodeLease> held;
    Status failure;
    // First round: every key on its first replica, one Pin per node for all the keys it is asked
    // for (one round trip per node, not per key). A node's Pin is all or nothing, so a group that
    // fails falls back, key by key, to the other replicas.
    std::vector<std::vector<size_t>> candidates(keys.size());
    std::map<size_t, std::vector<size_t>> by_node;  // node -> indexes into keys
    for (size_t i = 0; i < keys.size(); ++i) {
      candidates[i] = ReadCandidates(v.placement, keys[i], r, /*wide=*/true);
      if (candidates[i].empty()) return Status::NotFound("key " + keys[i].ToHex() + " is not present; nothing pinned");
      by_node[candidates[i][0]].push_back(i);
    }
    std::vector<std::pair<size_t, std::vector<size_t>>> groups(by_node.begin(), by_node.end());
    std::vector<LeaseId> group_lease(groups.size(), 0);
    std::vector<char> group_ok(groups.size(), 0);
    fan_out_.For(groups.size(), [&](size_t g) {
      std::vector<BlockKey> group_keys;
      for (size_t i : groups[g].second) group_keys.push_back(keys[i]);
      Status st = CallNode(v.placement.member(groups[g].first), ns, [&](PeerSet::Bound& b) {
        auto res = b.store->Pin(b.ns, group_keys, lease_ms);
        if (res.ok()) group_lease[g] = *res;
        return res.ok() ? Status::Ok() : res.status();
      });
      group_ok[g] = st.ok();
    });
    std::vector<size_t> left;  // keys whose first replica's group failed
    for (size_t g = 0; g < groups.size(); ++g) {
      if (group_ok[g]) held.push_back(NodeLease{v.placement.member(groups[g].first), group_lease[g]});
      else left.insert(left.end(), groups[g].second.begin(), groups[g].second.end());
    }
    for (size_t i : left) {
      bool pinned = false;
      for (size_t node : candidates[i]) {
        LeaseId lease = 0;
        Status st = CallNode(v.placement.member(node), ns, [&](PeerSet::Bound& b) {
          auto res = b.store->Pin(b.ns, std::span<const BlockKey>(&keys[i], 1), lease_ms);
          if (res.ok()) lease = *res;
          return res.ok() ? Status::Ok() : res.status();
        });
        if (st.ok()) {
          held.push_back(NodeLease{v.placement.member(node), lease});
          pinned = true;
          break;
        }
      }
      if (!pinned) {
        failure = Status::NotFound("key " + keys[i].ToHex() + " is not present; nothing pinned");
        break;
      }
    }
    if (!failure.ok()) {
      (void)UnpinAll(held);
      return failure;
    }
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t id = next_id_++;
    pins_.emplace(id, std::move(held));
    return id;
  }

  Status Unpin(LeaseId lease) {
    std::vector<NodeLease> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = pins_.find(lease);
      if (it == pins_.end()) return Status::InvalidArgument("unknown lease");
      held = std::move(it->second);
      pins_.erase(it);
    }
    return UnpinAll(held);
  }

  Status Remove(const NamespaceId& ns, const BlockKey& key) {
    TW_RETURN_IF_ERROR(CheckNamespace(ns));
    View v = Snapshot();
    bool removed = false;
    for (size_t node : v.placement.Rank(key)) {
      Status s = CallNode(v.placement.member(node), ns, [&](PeerSet::Bound& b) { return b.store->Remove(b.ns, key); });
      removed = removed || s.ok();
    }
    return removed ? Status::Ok() : Status::NotFound();
  }

  Result<StoreStats> Stats() {
    View v = Snapshot();
    std::vector<StoreStats> all(v.placement.size());
    std::vector<bool> ok(v.placement.size(), false);
    fan_out_.For(v.placement.size(), [&](size_t i) {
      auto store = peers_.Connect(v.placement.member(i));
      if (!store.ok()) return;
      Result<StoreStats> s = (*store)->Stats();
      if (!s.ok()) return;
      all[i] = std::move(*s);
      ok[i] = true;
    });
    StoreStats sum;
    for (size_t i = 0; i < all.size(); ++i) {
      if (!ok[i]) continue;
      sum += all[i];
    }
    sum.skipped_short += skipped_short_.load(std::memory_order_relaxed);  // judged here, not on the nodes
    if (std::find(ok.begin(), ok.end(), true) == ok.end() && !ok.empty()) {
      return Status::Unavailable("no cluster node answered STATS");
    }
    return sum;
  }

  ClusterStats cluster_stats() const {
    ClusterStats s;
    auto list = members_->Current();
    if (list) {
      s.members = list->members.size();
      s.membership_stale = list->stale;
    }
    s.read_failovers = read_failovers_.load();
    s.read_failures = read_failures_.load();
    s.puts_under_replicated = puts_under_replicated_.load();
    if (copier_) {
      CopierStats c = copier_->stats();
      s.repairs = c.copied;
      s.repair_bytes = c.copied_bytes;
      s.repairs_dropped = c.dropped;
    }
    s.peers = peers_.Stats();
    return s;
  }

  void DrainRepairs() {
    if (copier_) copier_->Drain();
  }

 private:
  struct PendingWrite {
    NamespaceId ns;
    BlockRef ref;
    std::shared_ptr<std::vector<std::byte>> buffer;
  };
  struct NodeLease {
    Member member;
    LeaseId lease = 0;
  };

  Status UnpinAll(const std::vector<NodeLease>& held) {
    Status first;
    for (const NodeLease& h : held) {
      auto store = peers_.Connect(h.member);
      Status s = store.ok() ? (*store)->Unpin(h.lease) : store.status();
      if (first.ok() && !s.ok()) first = s;
    }
    return first;
  }

  Store* const outer_;
  const ClusterStoreOptions options_;
  std::shared_ptr<MemberSource> members_;
  PeerSet peers_;
  std::unique_ptr<Copier> copier_;
  // Node calls of one cluster call run in parallel here. 16 covers the nodes a call touches on
  // the clusters we run (R copies of a batch spread over the members); past that the caller helps.
  FanOut fan_out_{16};

  mutable std::mutex mu_;
  std::unordered_map<NamespaceId, uint32_t> replicas_;               // GUARDED_BY(mu_)
  uint64_t next_id_ = 1;                                             // GUARDED_BY(mu_)
  std::unordered_map<uint64_t, PendingWrite> writes_;                // GUARDED_BY(mu_)
  std::unordered_map<uint64_t, std::vector<NodeLease>> pins_;        // GUARDED_BY(mu_)

  std::unordered_map<NamespaceId, uint32_t> min_prefix_tokens_;      // GUARDED_BY(mu_); as asked

  ShortChainJudge short_chains_{1 << 16};  // min_prefix_tokens; remembers the skipped chains' tails

  std::atomic<uint64_t> read_failovers_{0}, read_failures_{0}, puts_under_replicated_{0}, skipped_short_{0};
};

Result<std::unique_ptr<ClusterStore>> ClusterStore::Create(const ClusterStoreOptions& options,
                                                           std::shared_ptr<MemberSource> members,
                                                           NodeStoreFactory factory) {
  if (options.replicas == 0) return Status::InvalidArgument("replicas must be >= 1");
  if (!members || !factory) return Status::InvalidArgument("ClusterStore needs a member source and a node store factory");
  std::unique_ptr<ClusterStore> store(new ClusterStore(nullptr));
  store->impl_ = std::make_unique<Impl>(store.get(), options, std::move(members), std::move(factory));
  return store;
}

ClusterStore::ClusterStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClusterStore::~ClusterStore() = default;

Result<NamespaceId> ClusterStore::RegisterNamespace(const Namespace& nspace, const NamespaceOptions& options) {
  return impl_->RegisterNamespace(nspace, options);
}
Result<LookupResult> ClusterStore::Lookup(const NamespaceId& ns, std::span<const BlockKey> keys) {
  return impl_->Lookup(ns, keys);
}
Status ClusterStore::Put(const NamespaceId& ns, const BlockRef& ref, std::span<const std::byte> data) {
  return impl_->Put(ns, ref, data);
}
BatchStatus ClusterStore::PutBatch(const NamespaceId& ns, std::span<const PutItem> items) { return impl_->PutBatch(ns, items); }
Result<WriteHandle> ClusterStore::Reserve(const NamespaceId& ns, const BlockRef& ref) { return impl_->Reserve(ns, ref); }
Status ClusterStore::Get(const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out, const KvSlice& slice) {
  return impl_->Get(ns, key, out, slice);
}
BatchStatus ClusterStore::GetBatch(const NamespaceId& ns, std::span<const GetItem> items) { return impl_->GetBatch(ns, items); }
Result<ReadHandle> ClusterStore::Acquire(const NamespaceId& ns, const BlockKey& key, uint64_t lease_ms) {
  return impl_->Acquire(ns, key, lease_ms);
}
Result<LeaseId> ClusterStore::Pin(const NamespaceId& ns, std::span<const BlockKey> keys, uint64_t lease_ms) {
  return impl_->Pin(ns, keys, lease_ms);
}
Status ClusterStore::Unpin(LeaseId lease) { return impl_->Unpin(lease); }
Status ClusterStore::Remove(const NamespaceId& ns, const BlockKey& key) { return impl_->Remove(ns, key); }
Result<StoreStats> ClusterStore::Stats() { return impl_->Stats(); }
ClusterStats ClusterStore::cluster_stats() const { return impl_->cluster_stats(); }
uint32_t ClusterStore::ReplicasOf(const NamespaceId& ns) const { return impl_->ReplicasOf(ns); }
void ClusterStore::DrainRepairs() { impl_->DrainRepairs(); }
Status ClusterStore::CommitWrite(uint64_t id) { return impl_->CommitWrite(id); }
void ClusterStore::AbortWrite(uint64_t id) { impl_->AbortWrite(id); }

}  // namespace tw::cluster
