#include "capi/open_store.h"

namespace tw {

Result<std::unique_ptr<Store>> OpenStoreByUrl(std::string_view url, const ClientOptions& options) {
  return OpenStore(url.empty() ? std::string_view("embedded:") : url, options);
}

}  // namespace tw
