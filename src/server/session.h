// Session: one client connection of the daemon, a C++20 coroutine on its own strand.
//
// The loop reads a frame header, its metadata, then serves the request and writes the reply, in
// order: a client pipelines by writing many requests before reading replies. PUT payloads are read
// straight into reserved DRAM pages (and verified as they arrive); GET replies are written straight
// from DRAM pages with one gathered write. Nothing on the hot path copies object bytes.
//
// Lifetime: shared_ptr owned by its coroutines and the SessionRegistry (weakly). All state is
// touched only on the strand. Internal to src/server: keeps Asio out of every other header.
#pragma once

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <atomic>
#include <memory>
#include <optional>
#include <type_traits>

#include "server/server_core.h"

namespace tw::server {

class SessionRegistry;

class Session : public std::enable_shared_from_this<Session> {
 public:
  using Socket = asio::generic::stream_protocol::socket;

  // With `tls` (TCP listeners configured for TLS), the session handshakes first and every byte after
  // that goes through the TLS stream; without it, bytes go to the socket as they are.
  // Store calls that may wait for the disk (ServerCore::MayBlock) run on `store_pool`.
  Session(Socket socket, asio::ssl::context* tls, ServerCore& core, asio::thread_pool& store_pool, SessionRegistry& registry,
          ConnectionState conn);
  ~Session();

  void Start();
  // Finishes the request in flight (if any), then closes. Safe from any thread.
  void BeginDrain();
  // Closes at once. Safe from any thread.
  void ForceClose();

 private:
  asio::awaitable<void> Run();
  asio::awaitable<void> Watchdog();
  // Serves one request; returns false when the connection must close.
  asio::awaitable<bool> Serve(const net::FrameHeader& header, std::string meta);
  asio::awaitable<bool> ServeGet(const net::FrameHeader& header, std::string_view meta);
  asio::awaitable<bool> ServePut(const net::FrameHeader& header, std::string_view meta);
  asio::awaitable<bool> ServeSubscribe(const net::FrameHeader& header);
  // Reads and drops `n` payload bytes.
  asio::awaitable<bool> Discard(uint64_t n);
  asio::awaitable<bool> SendReply(const net::FrameHeader& request, const std::string& meta,
                                  std::span<const std::span<const std::byte>> payload = {}, uint64_t payload_bytes = 0,
                                  int attach_fd = -1);
  // Writes header+meta with `fd` attached (SCM_RIGHTS) on a Unix socket.
  asio::awaitable<bool> SendWithFd(const uint8_t* data, size_t size, int fd);
  // Runs `fn` on the store pool and resumes on this session's strand with its result.
  template <class F>
  asio::awaitable<std::invoke_result_t<F&>> OnStorePool(F fn);
  void Close();
  // Logs a request refused with a close, with this connection's peer, through the daemon-wide
  // limiter (ServerCore::protocol_error_log): a flood costs one line a second.
  void LogProtocolError(std::string_view what, const Status& status);
  void SetDeadline(uint64_t timeout_ms);
  // The stream bytes go through: TLS or the plain socket. Both fill `ec`, never throw.
  asio::awaitable<void> ReadExactly(asio::mutable_buffer buffer, asio::error_code& ec);
  asio::awaitable<void> WriteAll(const std::vector<asio::const_buffer>& buffers, asio::error_code& ec);
  // The socket under any TLS layer.
  Socket& socket() { return tls_ ? tls_->next_layer() : socket_; }

  Socket socket_;  // moved into tls_ when TLS is on
  std::optional<asio::ssl::stream<Socket>> tls_;
  ServerCore& core_;
  asio::thread_pool& store_pool_;
  SessionRegistry& registry_;
  ConnectionState conn_;
  asio::steady_timer watchdog_;
  asio::steady_timer event_wake_;
  bool idle_ = true;       // waiting for a request header
  bool draining_ = false;
  bool closed_ = false;
  bool subscribed_ = false;
  uint64_t deadline_ns_ = 0;  // 0: none
  // While a PUT's payload streams in: the next chunk must arrive by then (limits.payload_stall_ms).
  uint64_t stall_deadline_ns_ = 0;  // 0: none
  std::vector<std::byte> scratch_;  // discarded payload bytes land here
};

// The live sessions, for draining and for the connection limit. Thread-safe.
class SessionRegistry {
 public:
  void Add(const std::shared_ptr<Session>& s, const std::string& peer_address);
  void Remove(Session* s, const std::string& peer_address);
  size_t size();
  // Live sessions from one TCP address (per-peer limits).
  uint32_t PeerConnections(const std::string& peer_address);
  void DrainAll();
  void CloseAll();
  // Waits until no session is left or `timeout_ms` passes; true if none is left.
  bool WaitEmpty(uint64_t timeout_ms);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;  // GUARDED_BY(mu_)
  std::unordered_map<std::string, uint32_t> per_peer_;             // GUARDED_BY(mu_)
};

}  // namespace tw::server
