#include "capi/open_store.h"

#include <string>

namespace tw {

Result<std::unique_ptr<Store>> OpenStore(std::string_view url, const EmbeddedStoreOptions& options) {
  if (url.empty() || url == "embedded:") {
    TW_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedStore> store, EmbeddedStore::Open(options));
    return std::unique_ptr<Store>(std::move(store));
  }
  if (url.find("://") == std::string_view::npos) {
    return Status::InvalidArgument("not a store url: '" + std::string(url) +
                                   "' (use \"\" for an embedded store, or tw://host:port for a daemon)");
  }
  return Status::NotSupported("remote stores (" + std::string(url) +
                              ") are not in this build yet; open an embedded store with an empty url");
}

}  // namespace tw
