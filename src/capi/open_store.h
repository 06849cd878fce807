// Opening a store by URL for the language bindings: the C API and the Python package accept the
// same strings. An empty url means an embedded store (options.embedded); "etcd://HOST:PORT[,...]" a
// cluster of daemons (tw::OpenClusterStore, include/tw/cluster.h; the cluster named "default", the
// token is the one every node knows); anything else goes to tw::OpenStore (include/tw/client.h):
// "embedded:", "tw://host:port", "tws://host:port", "unix:///path". kInvalidArgument for a string
// that is no such URL.
#pragma once

#include <memory>
#include <string_view>

#include "tw/client.h"
#include "tw/result.h"

namespace tw {

Result<std::unique_ptr<Store>> OpenStoreByUrl(std::string_view url, const ClientOptions& options);

}  // namespace tw
