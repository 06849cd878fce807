#include "cluster/peer_set.h"

#include <chrono>

#include "common/clock.h"

namespace tw::cluster {

uint64_t SteadyNowMs() { return SteadyClock::Default()->NowMs(); }

uint64_t WallNowMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

bool IsNodeFailure(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kIOError:
    case StatusCode::kInternal:
      return true;
    default:
      return false;
  }
}

PeerSet::PeerSet(NodeStoreFactory factory, uint64_t suspect_ms, bool exact_namespaces)
    : factory_(std::move(factory)), suspect_ms_(suspect_ms), exact_namespaces_(exact_namespaces) {}

void PeerSet::AddNamespace(const NamespaceId& id, const Namespace& nspace, const NamespaceOptions& options) {
  // A node holds every object as a chain head (its parent lives on another node), so it cannot
  // judge a prompt's length: min_prefix_tokens 1 (every chain is at least that) tells its daemon
  // to store every block it is sent, instead of applying the tenant's default to each chain head.
  // Retention is kept as registered, so every replica expires like the first.
  NamespaceOptions node_options = options;
  node_options.min_prefix_tokens = 1;
  std::lock_guard<std::mutex> lock(mu_);
  namespaces_[id] = NsEntry{nspace, node_options};
}

std::optional<NamespaceOptions> PeerSet::OptionsOf(const NamespaceId& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = namespaces_.find(id);
  if (it == namespaces_.end()) return std::nullopt;
  return it->second.options;
}

bool PeerSet::KnowsNamespace(const NamespaceId& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return namespaces_.count(id) != 0;
}

const Namespace* PeerSet::FindNamespace(const NamespaceId& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = namespaces_.find(id);
  // Entries are never erased or replaced with a different namespace, so the pointer stays valid.
  return it == namespaces_.end() ? nullptr : &it->second.nspace;
}

std::shared_ptr<PeerSet::Peer> PeerSet::GetPeer(const std::string& node_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(node_id);
  return it == peers_.end() ? nullptr : it->second;
}

std::shared_ptr<PeerSet::Peer> PeerSet::GetOrAddPeer(const std::string& node_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = peers_[node_id];
  if (!slot) slot = std::make_shared<Peer>();
  return slot;
}

Status PeerSet::ConnectLocked(Peer* peer, const Member& member) {
  if (peer->member.addr != member.addr || peer->member.joined_ms != member.joined_ms) {
    // A new incarnation of the node (restarted, maybe elsewhere): start from scratch.
    peer->member = member;
    peer->store.reset();
    peer->ns_map.clear();
  }
  if (peer->store) return Status::Ok();
  auto store = factory_(member);
  if (!store.ok()) {
    peer->errors.fetch_add(1, std::memory_order_relaxed);
    peer->suspect_until_ms.store(SteadyNowMs() + suspect_ms_);
    return store.status().WithContext("connecting to node " + member.node_id);
  }
  peer->store = std::move(*store);
  peer->ns_map.clear();
  return Status::Ok();
}

Result<std::shared_ptr<Store>> PeerSet::Connect(const Member& member) {
  std::shared_ptr<Peer> peer = GetOrAddPeer(member.node_id);
  std::lock_guard<std::mutex> lock(peer->mu);
  TW_RETURN_IF_ERROR(ConnectLocked(peer.get(), member));
  peer->requests.fetch_add(1, std::memory_order_relaxed);
  return peer->store;
}

Result<PeerSet::Bound> PeerSet::Bind(const Member& member, const NamespaceId& ns) {
  NsEntry entry;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto nit = namespaces_.find(ns);
    if (nit == namespaces_.end()) return Status::FailedPrecondition("unknown namespace " + ns.ToHex() + ": register it first");
    entry = nit->second;
  }
  std::shared_ptr<Peer> peer = GetOrAddPeer(member.node_id);
  std::lock_guard<std::mutex> lock(peer->mu);
  TW_RETURN_IF_ERROR(ConnectLocked(peer.get(), member));
  auto it = peer->ns_map.find(ns);
  if (it == peer->ns_map.end()) {
    auto id = peer->store->RegisterNamespace(entry.nspace, entry.options);
    if (!id.ok()) {
      if (IsNodeFailure(id.status())) {
        peer->errors.fetch_add(1, std::memory_order_relaxed);
        peer->suspect_until_ms.store(SteadyNowMs() + suspect_ms_);
        peer->store.reset();
      }
      return id.status().WithContext("registering the namespace on node " + member.node_id);
    }
    if (exact_namespaces_ && *id != ns) {
      // Not remembered in ns_map: every Bind asks again, so fixing the node's config heals it.
      return Status::PermissionDenied("node " + member.node_id + " bound tenant '" + entry.nspace.tenant +
                                      "'s namespace to this node's own identity: give the nodes a --peer-token "
                                      "that every node lists with cluster_peer: true");
    }
    it = peer->ns_map.emplace(ns, *id).first;
  }
  peer->requests.fetch_add(1, std::memory_order_relaxed);
  return Bound{peer->store, it->second, RootKey(it->second, entry.nspace.key_hash)};
}

void PeerSet::Record(const std::string& node_id, const Status& s) {
  if (!IsNodeFailure(s)) return;
  std::shared_ptr<Peer> peer = GetPeer(node_id);
  if (!peer) return;
  peer->errors.fetch_add(1, std::memory_order_relaxed);
  peer->suspect_until_ms.store(SteadyNowMs() + suspect_ms_);
  std::lock_guard<std::mutex> lock(peer->mu);
  peer->store.reset();  // reconnect on the next use; calls in flight keep their own reference
  peer->ns_map.clear();
}

void PeerSet::Unbind(const std::string& node_id, const NamespaceId& ns) {
  std::shared_ptr<Peer> peer = GetPeer(node_id);
  if (!peer) return;
  std::lock_guard<std::mutex> lock(peer->mu);
  peer->ns_map.erase(ns);
}

bool PeerSet::Suspect(const std::string& node_id) const {
  std::shared_ptr<Peer> peer = GetPeer(node_id);
  return peer && peer->suspect_until_ms.load() > SteadyNowMs();
}

std::vector<PeerStats> PeerSet::Stats() const {
  std::vector<std::pair<std::string, std::shared_ptr<Peer>>> peers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    peers.assign(peers_.begin(), peers_.end());
  }
  std::vector<PeerStats> out;
  const uint64_t now = SteadyNowMs();
  for (auto& [id, p] : peers) {
    PeerStats s;
    s.node_id = id;
    {
      std::lock_guard<std::mutex> lock(p->mu);
      s.addr = p->member.addr;
    }
    s.requests = p->requests.load();
    s.errors = p->errors.load();
    s.suspect = p->suspect_until_ms.load() > now;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace tw::cluster
