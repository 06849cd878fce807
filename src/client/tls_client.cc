#include "client/tls_client.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>

namespace tw::client {

namespace {

// The most recent OpenSSL error as text, and the queue cleared (it is per thread).
std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no detail";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

TlsChannel::~TlsChannel() { SSL_free(ssl_); }  // the socket belongs to the Connection

Status TlsChannel::Failed(const char* what, int ret) {
  const int err = SSL_get_error(ssl_, ret);
  const int saved_errno = errno;
  // With blocking sockets, WANT_READ / WANT_WRITE or EAGAIN mean SO_RCVTIMEO / SO_SNDTIMEO passed.
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ||
      (err == SSL_ERROR_SYSCALL && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK))) {
    ERR_clear_error();
    return Status::DeadlineExceeded(std::string(what) + ": no progress within io_timeout_ms");
  }
  if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && saved_errno == 0)) {
    ERR_clear_error();
    return Status::Unavailable("the daemon closed the connection");
  }
  if (err == SSL_ERROR_SYSCALL) {
    ERR_clear_error();
    return Status::Unavailable(std::string(what) + ": " + std::strerror(saved_errno));
  }
  return Status::Unavailable(std::string(what) + ": TLS error: " + OpenSslError());
}

Status TlsChannel::Write(const void* data, size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    size_t n = 0;
    const int ret = SSL_write_ex(ssl_, p, size, &n);
    if (ret <= 0) {
      if (SSL_get_error(ssl_, ret) == SSL_ERROR_SYSCALL && errno == EINTR) continue;
      return Failed("send", ret);
    }
    p += n;
    size -= n;
  }
  return Status::Ok();
}

Status TlsChannel::Read(void* data, size_t size) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    size_t n = 0;
    const int ret = SSL_read_ex(ssl_, p, size, &n);
    if (ret <= 0) {
      if (SSL_get_error(ssl_, ret) == SSL_ERROR_SYSCALL && errno == EINTR) continue;
      return Failed("recv", ret);
    }
    p += n;
    size -= n;
  }
  return Status::Ok();
}

bool TlsChannel::HasBuffered() const { return SSL_pending(ssl_) > 0; }

Result<std::shared_ptr<TlsClient>> TlsClient::Create(const std::string& ca_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return Status::Internal("TLS: SSL_CTX_new: " + OpenSslError());
  std::shared_ptr<TlsClient> client(new TlsClient(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // Partial writes off, auto-retry on: SSL_write_ex / SSL_read_ex finish whole records on a blocking socket.
  SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
  const int loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx) : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
  if (loaded != 1) {
    return Status::InvalidArgument("TLS: cannot load trusted certificates from " + (ca_file.empty() ? std::string("the system store") : ca_file) +
                                   ": " + OpenSslError());
  }
  return client;
}

TlsClient::~TlsClient() { SSL_CTX_free(ctx_); }

Result<std::unique_ptr<TlsChannel>> TlsClient::Handshake(int fd, const std::string& server_name) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) return Status::Internal("TLS: SSL_new: " + OpenSslError());
  std::unique_ptr<TlsChannel> channel(new TlsChannel(ssl));
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (IsIpAddress(server_name)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str()) != 1) return Status::InvalidArgument("TLS: bad IP " + server_name);
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, server_name.c_str()) != 1) return Status::InvalidArgument("TLS: bad host name " + server_name);
    SSL_set_tlsext_host_name(ssl, server_name.c_str());  // SNI: only for names, never for addresses
  }
  if (SSL_set_fd(ssl, fd) != 1) return Status::Internal("TLS: SSL_set_fd: " + OpenSslError());
  const int ret = SSL_connect(ssl);
  if (ret != 1) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      ERR_clear_error();
      return Status::Unauthenticated("TLS: the server's certificate does not verify for " + server_name + ": " +
                                     X509_verify_cert_error_string(verify));
    }
    return channel->Failed("TLS handshake", ret);
  }
  return channel;
}

}  // namespace tw::client
