// tw::Open: the one front door. Every way to reach a warehouse, by URL, through one call; the C API
// (tw_store_open) and the Python package (tokenwarehouse.Store) open through it, so a URL that works
// in one works in all three.
//
//   tw::OpenOptions options;
//   options.client.token = "tenant-a-token";
//   auto store = tw::Open("unix:///run/tokenwarehouse/tw.sock", options);
//   if (!store.ok()) return store.status();
//
//   ""  or "embedded:"              an in-process EmbeddedStore (options.client.embedded)
//   "unix:///path"                   a `tokenwarehouse serve` daemon over its Unix socket; objects move
//                                    through the daemon's DRAM arena mapped into this process
//   "tw://host:port"                 a daemon over TCP
//   "tws://host:port"                a daemon over TLS (options.client.tls_ca_file, or the system's trust)
//   "etcd://host:port[,host:port]"   a cluster of daemons, as one store (options.cluster)
//
// The specific openers (tw::OpenStore in tw/client.h, tw::OpenClusterStore in tw/cluster.h) remain
// for callers that want one kind only; they are what Open dispatches to.
#pragma once

#include <memory>
#include <string_view>

#include "tw/client.h"
#include "tw/cluster.h"
#include "tw/result.h"
#include "tw/store.h"

namespace tw {

struct OpenOptions {
  // Every URL: who the caller is (token, client_name, tls_ca_file), how long it waits, the embedded
  // store's options for "embedded:".
  ClientOptions client;
  // etcd:// only. Each node is reached with cluster.node, whose timeouts are short on purpose (a
  // replica that does not answer is skipped, not waited for); the caller's identity is not repeated
  // there: client.token, client.client_name and client.tls_ca_file are what every node sees.
  ClusterClientOptions cluster;
};

// Thread-safe to call; the returned store's own contract is tw::Store's (tw/store.h).
// kInvalidArgument for a string that is none of the URLs above; kUnavailable if a daemon (or etcd)
// cannot be reached; kUnauthenticated if a daemon refuses the token or a tws:// certificate does not
// verify; kResourceExhausted if an embedded arena cannot be had.
Result<std::unique_ptr<Store>> Open(std::string_view url, const OpenOptions& options = {});

}  // namespace tw
