#include "net/payload_checksum.h"

#include <xxhash.h>

#include "common/check.h"

namespace tw::net {

PayloadChecksum::PayloadChecksum() : state_(XXH3_createState()) {
  TW_CHECK(state_ != nullptr);
  Reset();
}

PayloadChecksum::~PayloadChecksum() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void PayloadChecksum::Reset() { TW_CHECK(XXH3_64bits_reset(static_cast<XXH3_state_t*>(state_)) == XXH_OK); }

void PayloadChecksum::Update(const void* data, size_t size) {
  if (size) TW_CHECK(XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), data, size) == XXH_OK);
}

uint64_t PayloadChecksum::Digest() const { return XXH3_64bits_digest(static_cast<XXH3_state_t*>(state_)); }

}  // namespace tw::net
