#include "net/payload_checksum.h"

#include <xxhash.h>

#include "common/check.h"

namespace tw::net {

namespace avx2 {  // payload_checksum_avx2.cc
void* CreateState();
void FreeState(void* s);
void Reset(void* s);
void Update(void* s, const void* data, size_t size);
uint64_t Digest(const void* s);
uint64_t OneShot(const void* data, size_t size);
}  // namespace avx2

namespace {
const bool kAvx2 = __builtin_cpu_supports("avx2");
}

PayloadChecksum::PayloadChecksum() : state_(kAvx2 ? avx2::CreateState() : XXH3_createState()) {
  TW_CHECK(state_ != nullptr);
  Reset();
}

PayloadChecksum::~PayloadChecksum() {
  if (kAvx2) avx2::FreeState(state_);
  else XXH3_freeState(static_cast<XXH3_state_t*>(state_));
}

void PayloadChecksum::Reset() {
  if (kAvx2) avx2::Reset(state_);
  else TW_CHECK(XXH3_64bits_reset(static_cast<XXH3_state_t*>(state_)) == XXH_OK);
}

void PayloadChecksum::Update(const void* data, size_t size) {
  if (size == 0) return;
  if (kAvx2) avx2::Update(state_, data, size);
  else TW_CHECK(XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), data, size) == XXH_OK);
}

uint64_t PayloadChecksum::Digest() const {
  return kAvx2 ? avx2::Digest(state_) : XXH3_64bits_digest(static_cast<XXH3_state_t*>(state_));
}

uint64_t PayloadChecksum64(const void* data, size_t size) { return kAvx2 ? avx2::OneShot(data, size) : XXH3_64bits(data, size); }

}  // namespace tw::net
