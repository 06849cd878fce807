#include "server/session.h"

#include <sys/socket.h>

#include <cstring>
#include <limits>

#include "common/clock.h"
#include "common/logging.h"
#include "net/payload_checksum.h"

namespace tw::server {

namespace {

using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;

// PUT payloads are hashed in chunks as they arrive, while the chunk is still in cache.
constexpr size_t kHashChunkBytes = 512 << 10;
constexpr size_t kScratchBytes = 256 << 10;

// Completion condition for asio::async_read/async_write: keep going until every byte moved, and let
// each system call move as much as the socket takes. Asio's default (transfer_all) caps every call
// at asio::default_max_transfer_size, 64 KiB, so a 32 MiB GET cost ~500 sendmsg calls, each with a
// reactor round trip (bench/results/net_2026-12-03.md: 2.7x fewer sendmsg calls without the cap).
size_t TransferAllUncapped(const asio::error_code& ec, size_t /*bytes_so_far*/) {
  return ec ? 0 : std::numeric_limits<size_t>::max();
}

std::array<uint8_t, net::kFrameHeaderBytes> ReplyHeader(const net::FrameHeader& request, size_t meta_bytes, uint64_t payload_bytes) {
  net::FrameHeader h;
  h.type = static_cast<uint8_t>(request.type | net::kResponseBit);
  h.request_id = request.request_id;
  h.meta_bytes = static_cast<uint32_t>(meta_bytes);
  h.payload_bytes = payload_bytes;
  std::array<uint8_t, net::kFrameHeaderBytes> out;
  net::EncodeFrameHeader(h, out.data());
  return out;
}

}  // namespace

Session::Session(Socket socket, asio::ssl::context* tls, ServerCore& core, asio::thread_pool& store_pool,
                 SessionRegistry& registry, ConnectionState conn)
    : socket_(std::move(socket)),
      core_(core),
      store_pool_(store_pool),
      registry_(registry),
      conn_(std::move(conn)),
      watchdog_(socket_.get_executor()),
      event_wake_(socket_.get_executor()) {
  if (tls) tls_.emplace(std::move(socket_), *tls);
}

Session::~Session() { core_.metrics().connections_open.fetch_sub(1, std::memory_order_relaxed); }

void Session::Start() {
  auto self = shared_from_this();
  registry_.Add(self, conn_.peer_address);
  core_.metrics().connections_open.fetch_add(1, std::memory_order_relaxed);
  core_.metrics().connections_total.fetch_add(1, std::memory_order_relaxed);
  // Exceptions cannot escape: every socket operation reports through an error_code, and the
  // completion handler swallows anything else (e.g. bad_alloc) by closing the connection.
  auto executor = socket().get_executor();
  asio::co_spawn(executor, [self]() -> awaitable<void> { co_await self->Run(); },
                 [self](std::exception_ptr e) {
                   if (e) TW_LOG_ERROR("connection {}: unexpected exception; closed", self->conn_.id);
                 });
  asio::co_spawn(executor, [self]() -> awaitable<void> { co_await self->Watchdog(); }, asio::detached);
}

void Session::BeginDrain() {
  auto self = shared_from_this();
  asio::post(socket().get_executor(), [self] {
    self->draining_ = true;
    if (self->idle_ || self->subscribed_) self->Close();
  });
}

void Session::ForceClose() {
  auto self = shared_from_this();
  asio::post(socket().get_executor(), [self] { self->Close(); });
}

void Session::Close() {
  if (closed_) return;
  closed_ = true;
  // No TLS close_notify: the peer sees the connection end either way, and waiting for a graceful
  // TLS shutdown would let a stalled peer hold the session open.
  asio::error_code ec;
  socket().shutdown(asio::socket_base::shutdown_both, ec);
  socket().close(ec);
  watchdog_.cancel();
  event_wake_.cancel();
}

template <class F>
awaitable<std::invoke_result_t<F&>> Session::OnStorePool(F fn) {
  using R = std::invoke_result_t<F&>;
  // The session's coroutine is suspended until the call returns, so `fn` may use the session's
  // state from the pool thread: nothing else on the strand touches it meanwhile (the watchdog
  // reads only timers and flags).
  co_return co_await asio::co_spawn(store_pool_, [&fn]() -> awaitable<R> { co_return fn(); }, use_awaitable);
}

void Session::SetDeadline(uint64_t timeout_ms) { deadline_ns_ = timeout_ms ? MonotonicNanos() + timeout_ms * 1'000'000 : 0; }

awaitable<void> Session::Watchdog() {
  auto self = shared_from_this();
  asio::error_code ec;
  while (!closed_) {
    watchdog_.expires_after(std::chrono::milliseconds(250));
    co_await watchdog_.async_wait(redirect_error(use_awaitable, ec));
    if (closed_) break;
    if (stall_deadline_ns_ && MonotonicNanos() > stall_deadline_ns_) {
      if (subscribed_) {
        core_.metrics().subscriber_stalls.fetch_add(1, std::memory_order_relaxed);
        TW_LOG_WARN("connection {} ({}): subscriber took no event for limits.payload_stall_ms; closing (it must "
                    "resynchronise)", conn_.id, conn_.peer);
      } else {
        core_.metrics().payload_stalls.fetch_add(1, std::memory_order_relaxed);
        TW_LOG_INFO("connection {} ({}): closed, a PUT's payload stalled (limits.payload_stall_ms); its reservation "
                    "is dropped", conn_.id, conn_.peer);
      }
      Close();
      break;
    }
    if (deadline_ns_ && MonotonicNanos() > deadline_ns_) {
      core_.metrics().timeouts.fetch_add(1, std::memory_order_relaxed);
      if (idle_ && !conn_.authenticated) {
        core_.metrics().hello_timeouts.fetch_add(1, std::memory_order_relaxed);
        TW_LOG_INFO("connection {} ({}): closed, no HELLO within limits.hello_timeout_ms", conn_.id, conn_.peer);
      } else {
        TW_LOG_INFO("connection {} ({}): closed after {} (limits.{})", conn_.id, conn_.peer,
                    idle_ ? "idling" : "a slow request", idle_ ? "idle_timeout_ms" : "request_timeout_ms");
      }
      Close();
    }
  }
}

awaitable<void> Session::Run() {
  auto self = shared_from_this();
  const auto& limits = core_.config().frame_limits;
  std::array<uint8_t, net::kFrameHeaderBytes> hbuf;
  std::string meta;
  asio::error_code ec;
  if (tls_) {
    // The handshake must finish within the request timeout, or the watchdog closes the socket.
    SetDeadline(core_.config().request_timeout_ms);
    co_await tls_->async_handshake(asio::ssl::stream_base::server, redirect_error(use_awaitable, ec));
    if (ec) {
      core_.metrics().tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
      TW_LOG_INFO("connection {}: TLS handshake failed ({}); closed", conn_.id, ec.message());
    }
  }
  while (!ec && !closed_ && !draining_) {
    idle_ = true;
    // Until HELLO authenticates it, a connection gets seconds, not the idle timeout's minutes.
    SetDeadline(conn_.authenticated ? core_.config().idle_timeout_ms : core_.config().hello_timeout_ms);
    co_await ReadExactly(asio::buffer(hbuf), ec);
    if (ec) break;
    idle_ = false;
    SetDeadline(core_.config().request_timeout_ms);
    Result<net::FrameHeader> header = net::DecodeFrameHeader(hbuf, limits);
    net::FrameHeader h;
    if (header.ok()) h = *header;
    const bool request_op = header.ok() && net::IsKnownRequestOp(h.type);
    if (!request_op) {
      core_.metrics().malformed_frames.fetch_add(1, std::memory_order_relaxed);
      Status s = header.ok() ? Status::InvalidArgument("unknown request op " + std::to_string(h.type)) : header.status();
      LogProtocolError("bad frame", s);
      net::MetaWriter w;
      w.Stat(s);
      h.type = header.ok() ? h.type & ~net::kResponseBit : 0;
      h.request_id = LoadLE64(hbuf.data() + 8);
      h.flags = 0;
      co_await SendReply(h, w.str());
      break;
    }
    meta.resize(h.meta_bytes);
    co_await ReadExactly(asio::buffer(meta), ec);
    if (ec) break;
    if (!co_await Serve(h, std::move(meta))) break;
    meta = std::string();
  }
  Close();
  core_.CloseConnection(conn_);
  registry_.Remove(this, conn_.peer_address);
}

void Session::LogProtocolError(std::string_view what, const Status& status) {
  if (uint64_t events = 0; core_.protocol_error_log().Allow(&events)) {
    TW_LOG_WARN("connection {} ({}): {} ({}); closing. {} such close(s) in the daemon since the last such line",
                conn_.id, conn_.peer, what, status.ToString(), events);
  }
}

awaitable<bool> Session::Serve(const net::FrameHeader& h, std::string meta) {
  const uint64_t t0 = MonotonicNanos();
  const auto op = static_cast<net::Op>(h.type);
  if (conn_.authenticated || op == net::Op::kHello) {
    switch (op) {
      case net::Op::kGet: co_return co_await ServeGet(h, meta);
      case net::Op::kPut: co_return co_await ServePut(h, meta);
      case net::Op::kSubscribe: co_return co_await ServeSubscribe(h);
      default: break;
    }
  }
  if (op == net::Op::kPut || op == net::Op::kGet) {
    // Unauthenticated streaming request: fall through to Handle, which refuses it and closes.
  }
  // No co_await inside a conditional expression: GCC 12 miscompiles it (destroys the result twice).
  Reply reply;
  if (core_.MayBlock(h, meta)) {
    reply = co_await OnStorePool([&] { return core_.Handle(conn_, h, meta); });
  } else {
    reply = core_.Handle(conn_, h, meta);
  }
  if (!reply.status.ok() && reply.close) {
    core_.metrics().malformed_frames.fetch_add(reply.status.IsCorruption(), std::memory_order_relaxed);
    LogProtocolError(std::string(net::OpName(op)) + " refused", reply.status);
  }
  bool ok = true;
  if (!(h.flags & net::kFlagNoReply) || reply.close) ok = co_await SendReply(h, reply.meta, {}, 0, reply.attach_fd);
  core_.metrics().RecordRequest(op, reply.status, 0, 0, MonotonicNanos() - t0);
  co_return ok && !reply.close;
}

awaitable<bool> Session::ServeGet(const net::FrameHeader& h, std::string_view meta) {
  const uint64_t t0 = MonotonicNanos();
  GetPlan plan;
  if (core_.MayBlock(h, meta)) {
    plan = co_await OnStorePool([&] { return core_.PlanGet(conn_, meta); });
  } else {
    plan = core_.PlanGet(conn_, meta);
  }
  const bool malformed = plan.status.IsCorruption();
  if (malformed) {
    core_.metrics().malformed_frames.fetch_add(1, std::memory_order_relaxed);
    LogProtocolError("GET refused", plan.status);
  }
  bool ok = h.payload_bytes == 0 && co_await SendReply(h, plan.meta, plan.payload, plan.payload_bytes);
  plan.holds.clear();  // the bytes are in the socket: let the pages go
  core_.metrics().RecordRequest(net::Op::kGet, plan.status, 0, plan.payload_bytes, MonotonicNanos() - t0);
  co_return ok && !malformed;
}

awaitable<bool> Session::Discard(uint64_t n) {
  if (scratch_.empty()) scratch_.resize(kScratchBytes);
  asio::error_code ec;
  while (n > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, scratch_.size()));
    stall_deadline_ns_ = MonotonicNanos() + core_.config().payload_stall_ms * 1'000'000;
    co_await ReadExactly(asio::buffer(scratch_.data(), chunk), ec);
    stall_deadline_ns_ = 0;
    if (ec) co_return false;
    n -= chunk;
  }
  co_return true;
}

awaitable<bool> Session::ServePut(const net::FrameHeader& h, std::string_view meta) {
  const uint64_t t0 = MonotonicNanos();
  Result<net::PutRequest> req = net::PutRequest::Decode(meta, core_.config().frame_limits.max_batch);
  Status check = req.ok() ? core_.CheckPut(conn_, *req, h.payload_bytes) : req.status();
  if (!check.ok()) {
    net::MetaWriter w;
    w.Stat(check);
    // A malformed request means the stream cannot be trusted: reply and close. A well-formed one
    // for a namespace the caller cannot use is refused after skipping its payload.
    const bool fatal = check.IsCorruption();
    if (fatal) {
      core_.metrics().malformed_frames.fetch_add(1, std::memory_order_relaxed);
      LogProtocolError("PUT refused", check);
    }
    bool ok = fatal || co_await Discard(h.payload_bytes);
    ok = ok && co_await SendReply(h, w.str());
    core_.metrics().RecordRequest(net::Op::kPut, check, h.payload_bytes, 0, MonotonicNanos() - t0);
    co_return ok && !fatal;
  }
  net::ItemsResponse resp;
  resp.items.reserve(req->items.size());
  asio::error_code ec;
  net::PayloadChecksum sum;
  // Reserving may evict (and so demote to a full disk write queue), and committing with
  // write-through queues for the disk: with a disk tier both run on the store pool.
  const bool offload = core_.WritesMayBlock();
  for (size_t i = 0; i < req->items.size(); ++i) {
    PutSlot slot;
    if (offload) {
      slot = co_await OnStorePool([&] { return core_.BeginPut(conn_, *req, i); });
    } else {
      slot = core_.BeginPut(conn_, *req, i);
    }
    if (slot.discard) {
      if (!co_await Discard(req->items[i].length)) co_return false;
      resp.items.push_back(slot.status);
      resp.outcomes.push_back(slot.status.ok() ? slot.outcome : net::StoreOutcome::kNone);
      continue;
    }
    // Read the object straight into its pages, a chunk at a time, hashing each chunk on arrival.
    // A connection that dies here destroys `slot`, whose handle aborts the write: nothing visible.
    sum.Reset();
    for (const auto& seg : slot.segments) {
      for (size_t off = 0; off < seg.size(); off += kHashChunkBytes) {
        const size_t n = std::min(kHashChunkBytes, seg.size() - off);
        // Each chunk must come within payload_stall_ms: a stalled writer loses its reservation in
        // seconds, not after request_timeout_ms.
        stall_deadline_ns_ = MonotonicNanos() + core_.config().payload_stall_ms * 1'000'000;
        co_await ReadExactly(asio::buffer(seg.data() + off, n), ec);
        stall_deadline_ns_ = 0;
        if (ec) co_return false;
        sum.Update(seg.data() + off, n);
      }
    }
    const uint64_t digest = sum.Digest();
    if (offload) {
      resp.items.push_back(co_await OnStorePool([&] { return core_.FinishPut(conn_, *req, i, slot, digest); }));
    } else {
      resp.items.push_back(core_.FinishPut(conn_, *req, i, slot, digest));
    }
    resp.outcomes.push_back(resp.items.back().ok() ? net::StoreOutcome::kStored : net::StoreOutcome::kNone);
  }
  // Outcomes are a version-2 trailer: a client of the first release rejects trailing bytes.
  if (conn_.version < 2) resp.outcomes.clear();
  net::MetaWriter w;
  w.Stat(Status::Ok());
  resp.Encode(w);
  bool ok = (h.flags & net::kFlagNoReply) || co_await SendReply(h, w.str());
  core_.metrics().RecordRequest(net::Op::kPut, Status::Ok(), h.payload_bytes, 0, MonotonicNanos() - t0);
  co_return ok;
}

awaitable<bool> Session::ServeSubscribe(const net::FrameHeader& h) {
  // Join the hub before the reply: a client that stores a block (on any connection) right after
  // Subscribe returns must see its event, so the subscription has to exist by then.
  auto self = shared_from_this();
  auto executor = socket().get_executor();
  auto sub = core_.events().Subscribe(conn_.identity.tenant, [self, executor] {
    asio::post(executor, [self] { self->event_wake_.cancel(); });
  });
  net::MetaWriter w;
  w.Stat(Status::Ok());
  if (!co_await SendReply(h, w.str())) {
    core_.events().Unsubscribe(sub);
    co_return false;
  }
  core_.metrics().RecordRequest(net::Op::kSubscribe, Status::Ok(), 0, 0, 0);
  subscribed_ = true;
  SetDeadline(0);
  asio::error_code ec;
  bool ok = true;
  while (ok && !closed_ && !draining_) {
    std::deque<net::Event> batch;
    bool overflowed;
    {
      std::lock_guard<std::mutex> lock(sub->mu);
      batch.swap(sub->queue);
      overflowed = sub->overflowed;
    }
    if (overflowed) {
      TW_LOG_WARN("connection {}: subscriber fell {} events behind; closing", conn_.id, EventHub::kMaxQueued);
      break;
    }
    for (const net::Event& e : batch) {
      net::MetaWriter ew;
      e.Encode(ew);
      net::FrameHeader eh = h;
      eh.type = static_cast<uint8_t>(net::Op::kEvent) & ~net::kResponseBit;  // SendReply adds the bit back
      // A subscriber that stops taking bytes (or whose tiny receive window stalls the socket) would
      // hold this send forever, and the overflow check below would never run: the send must move
      // within payload_stall_ms, or the subscriber is disconnected as one that fell behind.
      stall_deadline_ns_ = MonotonicNanos() + core_.config().payload_stall_ms * 1'000'000;
      ok = co_await SendReply(eh, ew.str());
      stall_deadline_ns_ = 0;
      if (!ok) break;
    }
    if (!ok || !batch.empty()) continue;
    event_wake_.expires_after(std::chrono::seconds(5));
    co_await event_wake_.async_wait(redirect_error(use_awaitable, ec));
  }
  core_.events().Unsubscribe(sub);
  co_return false;
}

awaitable<bool> Session::SendReply(const net::FrameHeader& request, const std::string& meta,
                                   std::span<const std::span<const std::byte>> payload, uint64_t payload_bytes, int attach_fd) {
  if (closed_) co_return false;
  auto header = ReplyHeader(request, meta.size(), payload_bytes);
  if (request.type == static_cast<uint8_t>(net::Op::kEvent)) header[5] = static_cast<uint8_t>(net::Op::kEvent);
  if (attach_fd >= 0) {
    std::string frame(reinterpret_cast<const char*>(header.data()), header.size());
    frame += meta;
    co_return co_await SendWithFd(reinterpret_cast<const uint8_t*>(frame.data()), frame.size(), attach_fd);
  }
  std::vector<asio::const_buffer> bufs;
  bufs.reserve(2 + payload.size());
  bufs.emplace_back(header.data(), header.size());
  bufs.emplace_back(meta.data(), meta.size());
  for (const auto& s : payload) bufs.emplace_back(s.data(), s.size());
  asio::error_code ec;
  co_await WriteAll(bufs, ec);
  co_return !ec;
}

awaitable<void> Session::ReadExactly(asio::mutable_buffer buffer, asio::error_code& ec) {
  if (tls_) {
    co_await asio::async_read(*tls_, buffer, TransferAllUncapped, redirect_error(use_awaitable, ec));
  } else {
    co_await asio::async_read(socket_, buffer, TransferAllUncapped, redirect_error(use_awaitable, ec));
  }
}

awaitable<void> Session::WriteAll(const std::vector<asio::const_buffer>& buffers, asio::error_code& ec) {
  if (tls_) {
    co_await asio::async_write(*tls_, buffers, TransferAllUncapped, redirect_error(use_awaitable, ec));
  } else {
    co_await asio::async_write(socket_, buffers, TransferAllUncapped, redirect_error(use_awaitable, ec));
  }
}

awaitable<bool> Session::SendWithFd(const uint8_t* data, size_t size, int fd) {
  // Only Unix sockets pass descriptors, and they never run TLS: write to the socket itself.
  // Asio has no ancillary-data API: send the first chunk with sendmsg on the native descriptor
  // (waiting for writability when the buffer is full), the rest with an ordinary write.
  asio::error_code ec;
  size_t sent = 0;
  for (;;) {
    msghdr msg{};
    iovec iov{const_cast<uint8_t*>(data), size};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    const ssize_t n = ::sendmsg(socket_.native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      sent = static_cast<size_t>(n);
      break;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) co_return false;
    co_await socket_.async_wait(asio::socket_base::wait_write, redirect_error(use_awaitable, ec));
    if (ec) co_return false;
  }
  if (sent < size) {
    co_await asio::async_write(socket_, asio::buffer(data + sent, size - sent), TransferAllUncapped, redirect_error(use_awaitable, ec));
    if (ec) co_return false;
  }
  co_return true;
}

// ---- SessionRegistry

void SessionRegistry::Add(const std::shared_ptr<Session>& s, const std::string& peer_address) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_[s.get()] = s;
  if (!peer_address.empty()) ++per_peer_[peer_address];
}

void SessionRegistry::Remove(Session* s, const std::string& peer_address) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(s);
  if (!peer_address.empty()) {
    auto it = per_peer_.find(peer_address);
    if (it != per_peer_.end() && --it->second == 0) per_peer_.erase(it);
  }
  cv_.notify_all();
}

uint32_t SessionRegistry::PeerConnections(const std::string& peer_address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = per_peer_.find(peer_address);
  return it == per_peer_.end() ? 0 : it->second;
}

size_t SessionRegistry::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.size();
}

void SessionRegistry::DrainAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [p, weak] : sessions_) {
    if (auto s = weak.lock()) s->BeginDrain();
  }
}

void SessionRegistry::CloseAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [p, weak] : sessions_) {
    if (auto s = weak.lock()) s->ForceClose();
  }
}

bool SessionRegistry::WaitEmpty(uint64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return sessions_.empty(); });
}

}  // namespace tw::server
