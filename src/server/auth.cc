#include "server/auth.h"

#include <algorithm>
#include <cctype>

#include <openssl/evp.h>

namespace tw::server {

std::string HashToken(std::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

Authenticator::Authenticator(const ServerConfig& config)
    : allow_anonymous_loopback_(config.allow_anonymous_loopback),
      anonymous_{config.anonymous_tenant, config.shared_memory && config.anonymous_shared_memory, false,
                 config.tenants.empty()} {
  for (const TenantConfig& t : config.tenants) {
    std::string h = t.token_sha256;
    std::transform(h.begin(), h.end(), h.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    by_token_hash_[h] = Identity{t.name, config.shared_memory && t.shared_memory, t.cluster_peer, t.admin || t.cluster_peer};
  }
}

Result<Identity> Authenticator::Authenticate(std::string_view token, bool local_peer) const {
  if (token.empty()) {
    if (allow_anonymous_loopback_ && local_peer) return anonymous_;
    return Status::Unauthenticated(local_peer ? "anonymous access is disabled: send a token"
                                              : "anonymous access is allowed from loopback only: send a token");
  }
  auto it = by_token_hash_.find(HashToken(token));
  if (it == by_token_hash_.end()) return Status::Unauthenticated("unknown token");
  return it->second;
}

}  // namespace tw::server
