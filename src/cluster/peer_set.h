// PeerSet: the connections from one process to the warehouse nodes of the cluster, and what it
// knows about each node's health.
//
// A peer's Store is made on first use by the injected factory (an EmbeddedStore in unit tests, a
// RemoteStore to the node's address in production) and namespaces are registered on it lazily, so
// a node that restarted empty gets them again. A transport failure (unavailable, deadline, I/O,
// internal) marks the node *suspect* for `suspect_ms`: readers move it to the back of their order
// and writers skip it, so a dead node costs one failed attempt per suspect period, not one per
// request; its connection is dropped and rebuilt on the next use.
//
// Thread-safety: every method is thread-safe. Lock order: mu_ -> Peer::mu; neither is held across
// a call to a node.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "cluster/member.h"
#include "tw/store.h"

namespace tw::cluster {

// Makes the Store that talks to one node. Called without locks held; may block to connect.
using NodeStoreFactory = std::function<Result<std::shared_ptr<Store>>(const Member& member)>;

struct PeerStats {
  std::string node_id;
  std::string addr;
  uint64_t requests = 0;  // calls made to the node
  uint64_t errors = 0;    // calls that failed in transport (not misses)
  bool suspect = false;
};

// True for codes that say "the node did not answer" rather than "the node answered no".
bool IsNodeFailure(const Status& s);

class PeerSet {
 public:
  // `exact_namespaces`: a node must bind each namespace to the very id given to AddNamespace, or
  // Bind fails with kPermissionDenied. Nodes set it when copying objects to their peers: the id
  // hashes the tenant, and a peer that rebinds the namespace to the identity of our connection
  // (our --peer-token is not a cluster_peer token there) would file the copy under the wrong
  // tenant, where its owner never finds it. Clients leave it off: their namespaces are meant to be
  // bound to their own identity.
  PeerSet(NodeStoreFactory factory, uint64_t suspect_ms, bool exact_namespaces = false);

  // The namespaces every peer must know, by the cluster-side id.
  void AddNamespace(const NamespaceId& id, const Namespace& nspace, const NamespaceOptions& options);
  bool KnowsNamespace(const NamespaceId& id) const;
  const Namespace* FindNamespace(const NamespaceId& id) const;
  // The options `id` was added with (its nodes' min_prefix_tokens is 1, see AddNamespace); nullopt if unknown.
  std::optional<NamespaceOptions> OptionsOf(const NamespaceId& id) const;

  // What a call to one node needs: its store, the node-side namespace id and root key.
  struct Bound {
    std::shared_ptr<Store> store;
    NamespaceId ns;
    BlockKey root;
  };
  // The node's store, connecting if needed (for calls that name no namespace, like Stats).
  Result<std::shared_ptr<Store>> Connect(const Member& member);
  // Connects (if needed) and registers `ns` (if needed) on `member`'s node. kPermissionDenied if
  // exact_namespaces is set and the node bound the namespace to another tenant.
  Result<Bound> Bind(const Member& member, const NamespaceId& ns);
  // Records the outcome of a call to `node_id`; a node failure makes it suspect and drops its connection.
  void Record(const std::string& node_id, const Status& s);
  // Forgets `ns` on the node (it answered "unknown namespace": it restarted); the next Bind registers again.
  void Unbind(const std::string& node_id, const NamespaceId& ns);
  bool Suspect(const std::string& node_id) const;

  std::vector<PeerStats> Stats() const;

 private:
  struct Peer {
    std::mutex mu;
    Member member;                                          // GUARDED_BY(mu)
    std::shared_ptr<Store> store;                           // GUARDED_BY(mu)
    std::unordered_map<NamespaceId, NamespaceId> ns_map;    // GUARDED_BY(mu): cluster id -> node id
    std::atomic<uint64_t> requests{0}, errors{0};
    std::atomic<uint64_t> suspect_until_ms{0};
  };
  std::shared_ptr<Peer> GetPeer(const std::string& node_id) const;
  std::shared_ptr<Peer> GetOrAddPeer(const std::string& node_id);
  // Makes sure peer->store is this incarnation's connection. Requires peer->mu.
  Status ConnectLocked(Peer* peer, const Member& member);

  const NodeStoreFactory factory_;
  const uint64_t suspect_ms_;
  const bool exact_namespaces_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Peer>> peers_;  // GUARDED_BY(mu_)
  struct NsEntry {
    Namespace nspace;
    NamespaceOptions options;
  };
  std::unordered_map<NamespaceId, NsEntry> namespaces_;  // GUARDED_BY(mu_)
};

// Milliseconds on the steady clock; suspect periods and rate limits use it.
uint64_t SteadyNowMs();
// Milliseconds since the Unix epoch; joined_ms and placement ramps use it.
uint64_t WallNowMs();

}  // namespace tw::cluster
