#include "common/hash.h"

#include <openssl/evp.h>
#include <xxhash.h>

#include "common/check.h"

namespace tw {

Sha256Trunc128::Sha256Trunc128() : ctx_(EVP_MD_CTX_new()) {
  TW_CHECK(ctx_ != nullptr);
  TW_CHECK(EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) == 1);
}

Sha256Trunc128::~Sha256Trunc128() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Trunc128::Update(const void* data, size_t size) {
  TW_CHECK(EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, size) == 1);
}

void Sha256Trunc128::Finish(uint8_t out[16]) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  TW_CHECK(EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), digest, &len) == 1 && len == 32);
  for (int i = 0; i < 16; ++i) out[i] = digest[i];
}

Xxh3Hash128::Xxh3Hash128() : state_(XXH3_createState()) {
  TW_CHECK(state_ != nullptr);
  TW_CHECK(XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_)) == XXH_OK);
}

Xxh3Hash128::~Xxh3Hash128() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void Xxh3Hash128::Update(const void* data, size_t size) {
  TW_CHECK(XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data, size) == XXH_OK);
}

void Xxh3Hash128::Finish(uint8_t out[16]) {
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_)));
  for (int i = 0; i < 16; ++i) out[i] = canonical.digest[i];
}

uint64_t Checksum64(const void* data, size_t size, uint64_t seed) { return XXH3_64bits_withSeed(data, size, seed); }

}  // namespace tw
