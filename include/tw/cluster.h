// Opening a cluster of warehouse nodes as one tw::Store.
//
//   auto store = tw::OpenClusterStore("etcd://10.0.0.5:2379,10.0.0.6:2379", {}).value();
//
// The store watches the cluster's membership in etcd, places each block key on R nodes by
// rendezvous hashing and talks to the nodes through the remote client (tw://ADDR). Reads fail over
// between replicas at once; when etcd is unreachable it keeps using the last membership it saw.
//
// min_prefix_tokens (NamespaceOptions) is applied here, by the client, as the embedded store does:
// a node holds each block as a chain head (its parent may live on another node), so it cannot tell
// a prompt's length and stores every block it is sent. The value is the namespace's as registered
// (0: store everything; the nodes' tenant default does not apply); skipped blocks are counted in
// Stats().skipped_short. Per-request usage (RequestUsage): Lookup and GetBatch report theirs, a
// PutBatch reports a skip but not what its R copies stored (reported stays false).
// See docs/design.md (## Cluster) and docs/operations.md (## Cluster).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "tw/client.h"
#include "tw/result.h"
#include "tw/store.h"

namespace tw {

struct ClusterClientOptions {
  std::string cluster = "default";  // the cluster's name: its members live under /tokenwarehouse/<cluster>/nodes/
  uint32_t replicas = 2;            // R; must match the nodes' --replicas
  std::map<std::string, uint32_t> replicas_by_model;
  uint64_t join_ramp_ms = 30000;    // must match the nodes' --join-ramp
  // How the client reaches each node. Short timeouts: a replica that does not answer is skipped,
  // not waited for. retries = 0: the cluster store fails over instead of retrying the same node.
  ClientOptions node{.connect_timeout_ms = 500, .io_timeout_ms = 2000, .retries = 0, .shared_memory = false};
  uint32_t etcd_timeout_ms = 1000;
  uint64_t repair_bytes_per_s = 64ull << 20;  // read repair budget (0: off)
  // Waits this long for the first member list; kUnavailable if etcd has not answered by then.
  uint32_t wait_for_members_ms = 5000;
};

// kInvalidArgument for a malformed URL ("etcd://HOST:PORT[,HOST:PORT...]"); kUnavailable if etcd
// did not answer within wait_for_members_ms.
Result<std::unique_ptr<Store>> OpenClusterStore(std::string_view etcd_url, const ClusterClientOptions& options = {});

// The etcd key prefix of a cluster's members.
std::string ClusterMemberPrefix(std::string_view cluster);

}  // namespace tw
