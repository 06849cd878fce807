// Connection: one blocking client connection to the daemon (TCP or Unix socket), speaking frames.
//
// Every send and receive is bounded by the I/O timeout (SO_RCVTIMEO / SO_SNDTIMEO), so a dead daemon costs a timeout, not a hang.
// After any transport error the connection is `broken()` and must be discarded: the stream position
// is unknown. Not thread-safe: the remote store hands each connection to one caller at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "client/tls_client.h"
#include "net/frame.h"
#include "net/payload_checksum.h"
#include "tw/result.h"

namespace tw::client {

struct Endpoint {
  enum class Kind { kTcp, kUnix } kind = Kind::kTcp;
  std::string host;
  uint16_t port = 0;
  std::string path;
  bool tls = false;  // tws://: TCP with TLS
  std::string ToString() const;
};

// Parses "tw://host:port", "tws://host:port" or "unix:///path". kInvalidArgument otherwise.
Result<Endpoint> ParseEndpoint(std::string_view url);

class Connection {
 public:
  // `tls` is required for a tws:// endpoint (its handshake runs here, within the I/O timeout) and
  // ignored otherwise.
  static Result<std::unique_ptr<Connection>> Dial(const Endpoint& endpoint, uint64_t connect_timeout_ms, uint64_t io_timeout_ms,
                                                  const TlsClient* tls = nullptr);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one frame: header, metadata, then the payload spans as they are (gathered, not copied).
  Status Send(net::Op op, uint16_t flags, uint64_t request_id, std::string_view meta,
              std::span<const std::span<const std::byte>> payload = {});
  // Receives a reply's header and metadata. `fd_out`, if given, receives a descriptor passed along
  // the reply (SCM_RIGHTS) or -1. kCorruption for a frame that is not a reply to `request_id` / `op`.
  Status Receive(net::Op op, uint64_t request_id, net::FrameHeader* header, std::string* meta, int* fd_out = nullptr);
  // Reads exactly out.size() payload bytes into `out`, feeding them to `sum` if given.
  Status ReceivePayload(std::span<std::byte> out, net::PayloadChecksum* sum = nullptr);
  Status SkipPayload(uint64_t bytes);
  // Waits up to `timeout_ms` for bytes to read: OK if some are ready, kDeadlineExceeded if not.
  Status WaitReadable(uint64_t timeout_ms);

  uint64_t NextRequestId() { return ++last_request_id_; }
  bool broken() const { return broken_; }
  bool is_unix() const { return is_unix_; }
  net::FrameLimits& peer_limits() { return peer_limits_; }

 private:
  Connection(int fd, bool is_unix, uint64_t io_timeout_ms) : fd_(fd), is_unix_(is_unix), io_timeout_ms_(io_timeout_ms) {}
  Status Fail(Status s) {
    broken_ = true;
    return s;
  }
  Status ReadExact(void* data, size_t size, int* fd_out = nullptr);
  Status SendTls(const std::vector<std::pair<const void*, size_t>>& pieces);

  int fd_;
  std::unique_ptr<TlsChannel> tls_;  // null: plain socket
  bool is_unix_;
  uint64_t io_timeout_ms_;
  bool broken_ = false;
  uint64_t last_request_id_ = 0;
  net::FrameLimits peer_limits_;
};

}  // namespace tw::client
