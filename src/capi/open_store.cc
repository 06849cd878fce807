#include "capi/open_store.h"

#include "tw/cluster.h"

namespace tw {

Result<std::unique_ptr<Store>> OpenStoreByUrl(std::string_view url, const ClientOptions& options) {
  if (url.starts_with("etcd://")) {
    ClusterClientOptions cluster;
    cluster.node.token = options.token;
    cluster.node.client_name = options.client_name;
    return OpenClusterStore(url, cluster);
  }
  return OpenStore(url.empty() ? std::string_view("embedded:") : url, options);
}

}  // namespace tw
