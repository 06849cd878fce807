#include "client/connection.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/clock.h"
#include "common/little_endian.h"

namespace tw::client {

namespace {

Status Errno(std::string_view what) { return Status::Unavailable(std::string(what) + ": " + std::strerror(errno)); }

int WaitMs(uint64_t deadline_ns) {
  const uint64_t now = MonotonicNanos();
  if (now >= deadline_ns) return 0;
  return static_cast<int>(std::min<uint64_t>((deadline_ns - now) / 1'000'000 + 1, 1u << 30));
}

}  // namespace

std::string Endpoint::ToString() const {
  return kind == Kind::kTcp ? (tls ? "tws://" : "tw://") + host + ":" + std::to_string(port) : "unix://" + path;
}

Result<Endpoint> ParseEndpoint(std::string_view url) {
  Endpoint e;
  if (url.starts_with("unix://")) {
    e.kind = Endpoint::Kind::kUnix;
    e.path = std::string(url.substr(7));
    if (e.path.empty() || e.path.size() >= sizeof(sockaddr_un::sun_path)) return Status::InvalidArgument("bad unix socket path in '" + std::string(url) + "'");
    return e;
  }
  e.tls = url.starts_with("tws://");
  if (!e.tls && !url.starts_with("tw://")) {
    return Status::InvalidArgument("unknown URL scheme in '" + std::string(url) + "' (tw://, tws://, unix://, embedded:)");
  }
  std::string_view rest = url.substr(e.tls ? 6 : 5);
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return Status::InvalidArgument("missing port in '" + std::string(url) + "'");
  std::string_view host = rest.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  uint32_t port = 0;
  for (char c : rest.substr(colon + 1)) {
    if (c < '0' || c > '9' || (port = port * 10 + static_cast<uint32_t>(c - '0')) > 65535) {
      return Status::InvalidArgument("bad port in '" + std::string(url) + "'");
    }
  }
  if (host.empty() || port == 0) return Status::InvalidArgument("bad host or port in '" + std::string(url) + "'");
  e.host = std::string(host);
  e.port = static_cast<uint16_t>(port);
  return e;
}

Result<std::unique_ptr<Connection>> Connection::Dial(const Endpoint& ep, uint64_t connect_timeout_ms, uint64_t io_timeout_ms,
                                                     const TlsClient* tls) {
  if (ep.tls && !tls) return Status::InvalidArgument("tws:// needs TLS settings (internal: no TlsClient given)");
  int fd = -1;
  auto connect_nonblocking = [&](const sockaddr* addr, socklen_t len) -> Status {
    const int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    if (::connect(fd, addr, len) != 0) {
      if (errno != EINPROGRESS) return Errno("connect to " + ep.ToString());
      pollfd p{fd, POLLOUT, 0};
      const int r = ::poll(&p, 1, static_cast<int>(connect_timeout_ms));
      if (r == 0) return Status::DeadlineExceeded("connect to " + ep.ToString() + " timed out");
      int err = 0;
      socklen_t elen = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
      if (r < 0 || err) {
        errno = err ? err : errno;
        return Errno("connect to " + ep.ToString());
      }
    }
    // Blocking again, with kernel timeouts on every send and receive: one syscall per step instead
    // of a poll and a non-blocking call, and a dead daemon still costs only io_timeout_ms.
    fcntl(fd, F_SETFL, flags);
    timeval tv{static_cast<time_t>(io_timeout_ms / 1000), static_cast<suseconds_t>((io_timeout_ms % 1000) * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return Status::Ok();
  };
  if (ep.kind == Endpoint::Kind::kUnix) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Errno("socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, ep.path.data(), ep.path.size());
    Status s = connect_nonblocking(reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (!s.ok()) {
      ::close(fd);
      return s;
    }
    return std::unique_ptr<Connection>(new Connection(fd, true, io_timeout_ms));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(ep.host.c_str(), std::to_string(ep.port).c_str(), &hints, &res); rc != 0) {
    return Status::Unavailable("cannot resolve " + ep.host + ": " + gai_strerror(rc));
  }
  Status last = Status::Unavailable("no address for " + ep.host);
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    last = connect_nonblocking(ai->ai_addr, ai->ai_addrlen);
    if (last.ok()) break;
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd < 0) return last;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::unique_ptr<Connection> conn(new Connection(fd, false, io_timeout_ms));
  if (ep.tls) {
    Result<std::unique_ptr<TlsChannel>> channel = tls->Handshake(fd, ep.host);
    if (!channel.ok()) return channel.status().WithContext(ep.ToString());
    conn->tls_ = std::move(*channel);
  }
  return conn;
}

Connection::~Connection() {
  tls_.reset();  // before the socket it runs on
  if (fd_ >= 0) ::close(fd_);
}

Status Connection::WaitReadable(uint64_t timeout_ms) {
  if (tls_ && tls_->HasBuffered()) return Status::Ok();
  pollfd p{fd_, POLLIN, 0};
  const uint64_t deadline = MonotonicNanos() + timeout_ms * 1'000'000;
  for (;;) {
    const int r = ::poll(&p, 1, WaitMs(deadline));
    if (r > 0) return Status::Ok();
    if (r == 0) return Status::DeadlineExceeded("nothing to read");
    if (errno != EINTR) return Fail(Errno("poll"));
  }
}

Status Connection::Send(net::Op op, uint16_t flags, uint64_t request_id, std::string_view meta,
                        std::span<const std::span<const std::byte>> payload) {
  if (broken_) return Status::Unavailable("connection is broken");
  net::FrameHeader h;
  h.type = static_cast<uint8_t>(op);
  h.flags = flags;
  h.request_id = request_id;
  h.meta_bytes = static_cast<uint32_t>(meta.size());
  for (const auto& p : payload) h.payload_bytes += p.size();
  uint8_t header[net::kFrameHeaderBytes];
  net::EncodeFrameHeader(h, header);

  if (tls_) {
    std::vector<std::pair<const void*, size_t>> pieces;
    pieces.reserve(2 + payload.size());
    pieces.emplace_back(header, sizeof header);
    pieces.emplace_back(meta.data(), meta.size());
    for (const auto& p : payload) pieces.emplace_back(p.data(), p.size());
    return SendTls(pieces);
  }
  std::vector<iovec> iov;
  iov.reserve(2 + payload.size());
  iov.push_back({header, sizeof header});
  if (!meta.empty()) iov.push_back({const_cast<char*>(meta.data()), meta.size()});
  for (const auto& p : payload) {
    if (!p.empty()) iov.push_back({const_cast<std::byte*>(p.data()), p.size()});
  }
  size_t first = 0;
  while (first < iov.size()) {
    msghdr msg{};
    msg.msg_iov = iov.data() + first;
    msg.msg_iovlen = std::min<size_t>(iov.size() - first, IOV_MAX);
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Fail(Status::DeadlineExceeded("send: no progress within io_timeout_ms"));
      return Fail(Errno("send"));
    }
    auto left = static_cast<size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (left) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return Status::Ok();
}

Status Connection::SendTls(const std::vector<std::pair<const void*, size_t>>& pieces) {
  // Small pieces (header, metadata, small objects) are coalesced so that one request is one TLS
  // record where it fits, not one record per piece; large payloads go out as they are.
  constexpr size_t kCoalesceBytes = 16 << 10;
  std::string small;
  for (const auto& [data, size] : pieces) {
    if (size == 0) continue;
    if (small.size() + size <= kCoalesceBytes) {
      small.append(static_cast<const char*>(data), size);
      continue;
    }
    if (!small.empty()) {
      if (Status s = tls_->Write(small.data(), small.size()); !s.ok()) return Fail(s);
      small.clear();
    }
    if (Status s = tls_->Write(data, size); !s.ok()) return Fail(s);
  }
  if (!small.empty()) {
    if (Status s = tls_->Write(small.data(), small.size()); !s.ok()) return Fail(s);
  }
  return Status::Ok();
}

Status Connection::ReadExact(void* data, size_t size, int* fd_out) {
  if (tls_) {
    Status s = tls_->Read(data, size);
    return s.ok() ? s : Fail(s);
  }
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    ssize_t n;
    if (fd_out) {
      msghdr msg{};
      iovec iov{p, size};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      n = ::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC);
      if (n > 0) {
        for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
          if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(int))) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(cm), sizeof fd);
            if (*fd_out >= 0) ::close(*fd_out);
            *fd_out = fd;
          }
        }
      }
    } else {
      n = ::recv(fd_, p, size, MSG_WAITALL);
    }
    if (n > 0) {
      p += n;
      size -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return Fail(Status::Unavailable("the daemon closed the connection"));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Fail(Status::DeadlineExceeded("recv: no reply within io_timeout_ms"));
    return Fail(Errno("recv"));
  }
  return Status::Ok();
}

Status Connection::Receive(net::Op op, uint64_t request_id, net::FrameHeader* header, std::string* meta, int* fd_out) {
  if (broken_) return Status::Unavailable("connection is broken");
  if (fd_out) *fd_out = -1;
  uint8_t buf[net::kFrameHeaderBytes];
  TW_RETURN_IF_ERROR(ReadExact(buf, sizeof buf, fd_out));
  net::FrameLimits limits;
  limits.max_payload_bytes = UINT64_MAX;  // our own request bounded it
  Result<net::FrameHeader> h = net::DecodeFrameHeader(buf, limits);
  if (!h.ok()) return Fail(h.status());
  const uint8_t expect = static_cast<uint8_t>(op) | (op == net::Op::kEvent ? 0 : net::kResponseBit);
  // A refusal before the request was read (bad frame, connection limit) may carry another op.
  if (h->type != expect && h->request_id != 0) return Fail(Status::Corruption("reply of the wrong op"));
  if (h->request_id != request_id && h->request_id != 0) return Fail(Status::Corruption("reply to another request"));
  meta->resize(h->meta_bytes);
  TW_RETURN_IF_ERROR(ReadExact(meta->data(), meta->size(), fd_out));
  *header = *h;
  return Status::Ok();
}

Status Connection::ReceivePayload(std::span<std::byte> out, net::PayloadChecksum* sum) {
  // Hash in chunks as they land, while they are still in cache.
  constexpr size_t kChunk = 1 << 20;
  for (size_t off = 0; off < out.size(); off += kChunk) {
    const size_t n = std::min(kChunk, out.size() - off);
    TW_RETURN_IF_ERROR(ReadExact(out.data() + off, n));
    if (sum) sum->Update(out.data() + off, n);
  }
  return Status::Ok();
}

Status Connection::SkipPayload(uint64_t bytes) {
  std::vector<std::byte> scratch(static_cast<size_t>(std::min<uint64_t>(bytes, 1 << 20)));
  while (bytes > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(bytes, scratch.size()));
    TW_RETURN_IF_ERROR(ReadExact(scratch.data(), n));
    bytes -= n;
  }
  return Status::Ok();
}

}  // namespace tw::client
