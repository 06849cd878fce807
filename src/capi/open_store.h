// Opening a store by URL: the one place that decides embedded vs remote, shared by the C API and the
// Python package so both accept the same strings.
#pragma once

#include <memory>
#include <string_view>

#include "tw/embedded_store.h"
#include "tw/result.h"

namespace tw {

// An empty url (or "embedded:") opens an EmbeddedStore with `options`. Any other url names a daemon
// ("tw://host:port", "unix:///path"): kNotSupported until the remote client lands, kInvalidArgument for
// a string that is no url at all.
Result<std::unique_ptr<Store>> OpenStore(std::string_view url, const EmbeddedStoreOptions& options);

}  // namespace tw
