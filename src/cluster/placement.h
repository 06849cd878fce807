// Placement: which nodes own a block key, by weighted rendezvous (highest-random-weight) hashing.
//
// Every (key, node) pair gets a pseudo-random score; the key's owners are the R nodes with the
// highest scores. Why rendezvous: it needs no ring state, every observer with the same member list
// computes the same owners, and removing a node moves only the keys it owned (the others keep their
// relative order), so after a failure the surviving replica is still among the new owners.
//
// Weights make a join gradual. A node's weight ramps linearly from ~0 to 1 over `join_ramp_ms`
// after its joined_ms; with the score -w / ln(u) a node wins a key with probability proportional
// to its weight, so a fresh node takes over its share of keys a little at a time. Reads fall back
// to the stable owners (the owners computed as if joining nodes were absent), which still hold the
// keys the newcomer has not received yet; see ReadOrder.
//
// Thread-safety: a Placement is immutable after construction; share it freely.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/member.h"
#include "tw/block_key.h"

namespace tw::cluster {

struct PlacementOptions {
  uint32_t replicas = 2;          // R: copies of each object
  uint64_t join_ramp_ms = 30000;  // a new node reaches full weight this long after joining
};

class Placement {
 public:
  // `now_ms` is wall-clock ms (the clock joined_ms was written with).
  Placement(const MemberList& members, const PlacementOptions& options, uint64_t now_ms);

  size_t size() const { return nodes_.size(); }
  const Member& member(size_t i) const { return nodes_[i].member; }
  // The index of `node_id`, or -1.
  int IndexOf(const std::string& node_id) const;
  // A node's weight in (0, 1]: 1 for a settled node, less while it ramps up.
  double Weight(size_t i) const { return nodes_[i].weight; }
  bool Joining(size_t i) const { return nodes_[i].weight < 1.0; }

  // Every node, best first, for `key` (weighted scores).
  std::vector<size_t> Rank(const BlockKey& key) const;
  // The first min(replicas, size()) of Rank: where a PUT writes.
  std::vector<size_t> Owners(const BlockKey& key, uint32_t replicas) const;
  // Where a GET looks, in order: the owners, then the stable owners (joining nodes left out) not
  // already listed, then the next node of the rank, which still holds keys whose owner set just
  // shifted when a node reached full weight. Deduplicated; at most 2R + 1 entries.
  std::vector<size_t> ReadOrder(const BlockKey& key, uint32_t replicas) const;

  // The raw score of `key` on node `i`; larger wins. Exposed for tests.
  double Score(const BlockKey& key, size_t i) const;

 private:
  struct Node {
    Member member;
    uint64_t id_hash = 0;
    double weight = 1.0;
  };
  std::vector<Node> nodes_;
};

// 64-bit FNV-1a of a node id, then mixed: the node's identity in every score.
uint64_t NodeHash(std::string_view node_id);

}  // namespace tw::cluster
