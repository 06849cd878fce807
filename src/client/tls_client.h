// TlsClient: the client side of TLS for tws:// URLs, on OpenSSL.
//
// One TlsClient per store (an SSL_CTX holding the trusted certificates); each connection runs its
// own TlsChannel over its connected socket. The server's certificate is always verified: against
// `ca_file` when given (a CA or the server's own self-signed certificate), otherwise against the
// system's trust store; and its name must match the host of the URL (a DNS name or an IP address).
// There is no switch to skip verification: an unverified TLS connection protects nothing.
//
// Thread-safety: TlsClient is immutable after Create and shared by every connection; a TlsChannel
// belongs to one connection, which is used by one thread at a time.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "tw/result.h"

typedef struct ssl_ctx_st SSL_CTX;  // NOLINT: OpenSSL's own forward declarations
typedef struct ssl_st SSL;           // NOLINT

namespace tw::client {

class TlsChannel {
 public:
  ~TlsChannel();
  TlsChannel(const TlsChannel&) = delete;
  TlsChannel& operator=(const TlsChannel&) = delete;

  // Writes all `size` bytes. kDeadlineExceeded when the socket's send timeout passes, kUnavailable
  // for any other failure (the connection is then unusable).
  Status Write(const void* data, size_t size);
  // Reads exactly `size` bytes; errors as for Write.
  Status Read(void* data, size_t size);
  // True if decrypted bytes are waiting (poll on the socket would not see them).
  bool HasBuffered() const;

 private:
  friend class TlsClient;
  explicit TlsChannel(SSL* ssl) : ssl_(ssl) {}
  Status Failed(const char* what, int ret);

  SSL* ssl_;
};

class TlsClient {
 public:
  // kInvalidArgument if `ca_file` cannot be read as PEM certificates.
  static Result<std::shared_ptr<TlsClient>> Create(const std::string& ca_file);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // Runs the handshake over the connected, blocking socket `fd` (whose send and receive timeouts
  // bound it) and verifies the certificate against `server_name`. kUnauthenticated if the
  // certificate does not verify; kUnavailable if the peer does not speak TLS.
  Result<std::unique_ptr<TlsChannel>> Handshake(int fd, const std::string& server_name) const;

 private:
  explicit TlsClient(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

}  // namespace tw::client
