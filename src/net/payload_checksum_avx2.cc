// The AVX2 build of xxh3-64 for PayloadChecksum (compiled with -mavx2; called only when the CPU has
// AVX2). The distribution's libxxhash is built for baseline x86-64 (SSE2): about 20 GB/s here,
// against about 48 GB/s with AVX2, and the checksum sits on the critical path of every transfer.
// XXH_INLINE_ALL keeps every xxhash symbol local to this file; -mavx2 makes it pick the AVX2 kernel.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstddef>
#include <cstdint>

namespace tw::net::avx2 {

void* CreateState() { return XXH3_createState(); }
void FreeState(void* s) { XXH3_freeState(static_cast<XXH3_state_t*>(s)); }
void Reset(void* s) { XXH3_64bits_reset(static_cast<XXH3_state_t*>(s)); }
void Update(void* s, const void* data, size_t size) { XXH3_64bits_update(static_cast<XXH3_state_t*>(s), data, size); }
uint64_t Digest(const void* s) { return XXH3_64bits_digest(static_cast<const XXH3_state_t*>(s)); }
uint64_t OneShot(const void* data, size_t size) { return XXH3_64bits(data, size); }

}  // namespace tw::net::avx2
