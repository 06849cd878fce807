// tw::Open lives in tw_cluster because it is the one library that reaches every scheme: the remote
// client (tw_client, below it) and the cluster store (here).
#include "tw/open.h"

namespace tw {

Result<std::unique_ptr<Store>> Open(std::string_view url, const OpenOptions& options) {
  if (url.starts_with("etcd://")) {
    ClusterClientOptions cluster = options.cluster;
    cluster.node.token = options.client.token;
    cluster.node.client_name = options.client.client_name;
    cluster.node.tls_ca_file = options.client.tls_ca_file;
    return OpenClusterStore(url, cluster);
  }
  return OpenStore(url.empty() ? std::string_view("embedded:") : url, options.client);
}

}  // namespace tw
