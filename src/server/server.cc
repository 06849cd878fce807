// ServerImpl: listeners and the I/O thread pool around ServerCore and Session.
//
// Threads: `io_threads` run one io_context; each connection lives on its own strand, so a session
// never needs a lock, and connections spread over all threads. Accept loops are coroutines too.
// A store call that may wait for the disk (ServerCore::MayBlock) runs on `store_threads` of its own
// (the store pool) while its session's coroutine waits, so a slow disk stalls only the connections
// that asked for the disk, never the network threads that serve DRAM hits.
// Shutdown order: stop accepting -> drain sessions -> close stragglers -> stop threads -> admin.
#include "server/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <filesystem>
#include <thread>

#include "common/clock.h"
#include "common/log_rate_limiter.h"
#include "common/logging.h"
#include "server/admin_http.h"
#include "server/kv_event_feed.h"
#include "server/server_core.h"
#include "server/session.h"

namespace tw::server {

namespace {

using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;

class ServerImpl final : public Server {
 public:
  ServerImpl(const ServerConfig& config, std::unique_ptr<ServerCore> core)
      : config_(config),
        core_(std::move(core)),
        io_(static_cast<int>(config.io_threads)),
        store_pool_(config.store_threads) {}

  ~ServerImpl() override { Shutdown(); }

  Status Start() override {
    asio::error_code ec;
    if (config_.tls_enabled()) TW_RETURN_IF_ERROR(LoadTls());
    // Before any listener: the sink must be in place before the first request can store a block.
    if (!config_.kv_events.empty()) {
      TW_ASSIGN_OR_RETURN(kv_events_, KvEventFeed::Start(config_.kv_events, *core_));
    }
    if (!config_.listen.empty()) {
      std::string host;
      uint16_t port = 0;
      TW_RETURN_IF_ERROR(SplitHostPort(config_.listen, &host, &port));
      asio::ip::address addr = asio::ip::make_address(host, ec);
      if (ec) return Status::InvalidArgument("listen: '" + host + "' is not an IP address");
      tcp_ = std::make_unique<asio::ip::tcp::acceptor>(io_);
      asio::ip::tcp::endpoint ep(addr, port);
      tcp_->open(ep.protocol(), ec);
      if (!ec) tcp_->set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) tcp_->bind(ep, ec);
      if (!ec) tcp_->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) return Status::Unavailable("cannot listen on " + config_.listen + ": " + ec.message());
      auto local = tcp_->local_endpoint(ec);
      tcp_address_ = (local.address().is_v6() ? "[" + local.address().to_string() + "]" : local.address().to_string()) + ":" +
                     std::to_string(local.port());
      if (!local.address().is_loopback()) {
        TW_LOG_WARN("listening on {} beyond loopback: {}{}", tcp_address_,
                    config_.tenants.empty() ? "no tenants are configured, so only loopback peers get in (anonymously)"
                                            : "remote peers must present a tenant token",
                    tls_ ? "" : " (traffic is not encrypted: set tls.cert_file and tls.key_file)");
      }
      if (tls_) TW_LOG_INFO("TCP speaks TLS only (certificate {})", config_.tls_cert_file);
    }
    const std::string upath = config_.UnixSocketPath();
    if (!upath.empty()) {
      std::error_code fec;
      std::filesystem::create_directories(std::filesystem::path(upath).parent_path(), fec);
      ::unlink(upath.c_str());  // a stale socket from a killed daemon
      unix_ = std::make_unique<asio::local::stream_protocol::acceptor>(io_);
      asio::local::stream_protocol::endpoint ep(upath);
      unix_->open(ep.protocol(), ec);
      if (!ec) unix_->bind(ep, ec);
      if (!ec) unix_->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) return Status::Unavailable("cannot listen on unix socket " + upath + ": " + ec.message());
      ::chmod(upath.c_str(), 0660);  // owner and group: engines run as the same user or group
      unix_path_ = upath;
    }
    if (!config_.admin_listen.empty()) {
      TW_ASSIGN_OR_RETURN(admin_, AdminHttp::Start(config_.admin_listen, *core_, draining_));
    }
    if (config_.allow_anonymous_loopback) {
      TW_LOG_INFO("anonymous access is ON for loopback TCP and the Unix socket (tenant '{}'); set "
                  "auth.allow_anonymous_loopback: false to require tokens",
                  config_.anonymous_tenant);
    } else {
      TW_LOG_INFO("anonymous access is OFF: every client needs a tenant token");
    }
    if (tcp_) asio::co_spawn(io_, AcceptTcp(), asio::detached);
    if (unix_) asio::co_spawn(io_, AcceptUnix(), asio::detached);
    for (uint32_t i = 0; i < config_.io_threads; ++i) threads_.emplace_back([this] { io_.run(); });
    started_ = true;
    return Status::Ok();
  }

  void Shutdown() override {
    if (!started_ || stopped_) return;
    stopped_ = true;
    draining_ = true;
    asio::post(io_, [this] {
      asio::error_code ec;
      if (tcp_) tcp_->close(ec);
      if (unix_) unix_->close(ec);
    });
    const size_t live = sessions_.size();
    if (live) TW_LOG_INFO("draining {} connection(s) (up to {} ms)", live, config_.drain_timeout_ms);
    sessions_.DrainAll();
    if (!sessions_.WaitEmpty(config_.drain_timeout_ms)) {
      TW_LOG_WARN("drain timed out; closing {} connection(s) mid-request (their unfinished writes are dropped)", sessions_.size());
      sessions_.CloseAll();
      (void)sessions_.WaitEmpty(2000);
    }
    io_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    store_pool_.join();  // sessions are gone, so no store call is queued or running
    // Every acknowledged PUT is in the store; make the disk tier hold it before we exit.
    if (Status s = core_->FlushDisk(); !s.ok()) TW_LOG_WARN("disk flush at shutdown: {}", s.ToString());
    if (Status s = core_->SaveUsage(); !s.ok()) TW_LOG_WARN("token usage at shutdown: {}", s.ToString());
    if (admin_) admin_->Stop();
    if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
    TW_LOG_INFO("stopped");
  }

  std::string tcp_address() const override { return tcp_address_; }
  std::string unix_path() const override { return unix_path_; }
  std::string admin_address() const override { return admin_ ? admin_->address() : ""; }
  ServerCore& core() override { return *core_; }
  std::vector<KvEventsAddress> kv_events_addresses() const override {
    std::vector<KvEventsAddress> out;
    if (kv_events_) {
      for (const auto& p : kv_events_->publishers()) out.push_back({p->tenant(), p->endpoint(), p->replay_endpoint()});
    }
    return out;
  }

 private:
  // True if a new connection fits under limits.max_connections and, for TCP, under
  // limits.max_connections_per_peer from its address. Refusals are counted and logged, at most one
  // line every 10 s (a flood must not flood the log too).
  bool Admit(const std::string& peer, const std::string& peer_address) {
    const char* limit = nullptr;
    if (core_->metrics().connections_open.load() >= config_.max_connections) {
      core_->metrics().connections_rejected.fetch_add(1, std::memory_order_relaxed);
      limit = "limits.max_connections";
    } else if (!peer_address.empty() && sessions_.PeerConnections(peer_address) >= config_.max_connections_per_peer) {
      core_->metrics().connections_rejected_per_peer.fetch_add(1, std::memory_order_relaxed);
      limit = "limits.max_connections_per_peer";
    }
    if (limit == nullptr) return true;
    if (uint64_t suppressed = 0; refusal_log_.Allow(&suppressed)) {
      TW_LOG_WARN("refused a connection from {}: over {} ({} open; {} refusal(s) since the last such line)", peer,
                  limit, core_->metrics().connections_open.load(), suppressed);
    }
    return false;
  }

  // The TLS context every TCP session shares. TLS 1.2 at least; OpenSSL's default cipher list.
  Status LoadTls() {
    tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    asio::error_code ec;
    tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                          asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                      ec);
    if (!ec) tls_->use_certificate_chain_file(config_.tls_cert_file, ec);
    if (ec) return Status::InvalidArgument("tls.cert_file " + config_.tls_cert_file + ": " + ec.message());
    tls_->use_private_key_file(config_.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) return Status::InvalidArgument("tls.key_file " + config_.tls_key_file + ": " + ec.message());
    if (SSL_CTX_check_private_key(tls_->native_handle()) != 1) {
      return Status::InvalidArgument("tls.key_file " + config_.tls_key_file + " does not match tls.cert_file");
    }
    return Status::Ok();
  }

  void Launch(Session::Socket socket, bool local, bool is_unix, std::string peer, std::string peer_address) {
    ConnectionState conn;
    conn.id = next_conn_.fetch_add(1, std::memory_order_relaxed);
    conn.local_peer = local;
    conn.unix_socket = is_unix;
    conn.peer = std::move(peer);
    conn.peer_address = std::move(peer_address);
    asio::ssl::context* tls = is_unix ? nullptr : tls_.get();
    std::make_shared<Session>(std::move(socket), tls, *core_, store_pool_, sessions_, std::move(conn))->Start();
  }

  awaitable<void> AcceptTcp() {
    asio::error_code ec;
    while (!draining_) {
      asio::ip::tcp::socket s(asio::make_strand(io_));
      co_await tcp_->async_accept(s, redirect_error(use_awaitable, ec));
      if (ec) {
        if (draining_ || ec == asio::error::operation_aborted) break;
        continue;  // e.g. EMFILE: keep serving the connections we have
      }
      auto endpoint = s.remote_endpoint(ec);
      const bool local = !ec && endpoint.address().is_loopback();
      std::string address = ec ? std::string("?") : endpoint.address().to_string();
      std::string peer = "tcp " + address + ":" + (ec ? std::string("?") : std::to_string(endpoint.port()));
      if (!Admit(peer, address)) continue;  // closes `s`
      s.set_option(asio::ip::tcp::no_delay(true), ec);
      Launch(Session::Socket(std::move(s)), local, false, std::move(peer), std::move(address));
    }
  }

  awaitable<void> AcceptUnix() {
    asio::error_code ec;
    while (!draining_) {
      asio::local::stream_protocol::socket s(asio::make_strand(io_));
      co_await unix_->async_accept(s, redirect_error(use_awaitable, ec));
      if (ec) {
        if (draining_ || ec == asio::error::operation_aborted) break;
        continue;
      }
      if (!Admit("unix", "")) continue;
      Launch(Session::Socket(std::move(s)), true, true, "unix", "");
    }
  }

  const ServerConfig config_;
  std::unique_ptr<ServerCore> core_;
  std::shared_ptr<KvEventFeed> kv_events_;  // shared with core_'s block sink; null when no `events:`  // outlives io_: sessions destroyed with io_ still release handles
  SessionRegistry sessions_;
  asio::io_context io_;
  asio::thread_pool store_pool_;  // after io_: destroyed first, so no call outlives the sessions
  std::unique_ptr<asio::ssl::context> tls_;  // null: plain TCP
  std::unique_ptr<asio::ip::tcp::acceptor> tcp_;
  std::unique_ptr<asio::local::stream_protocol::acceptor> unix_;
  std::unique_ptr<AdminHttp> admin_;
  std::vector<std::thread> threads_;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> next_conn_{1};
  LogRateLimiter refusal_log_{10'000};  // refused connections: one line per 10 s
  bool started_ = false;
  bool stopped_ = false;
  std::string tcp_address_, unix_path_;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::Create(const ServerConfig& config_in) {
  ServerConfig config = config_in;
  TW_RETURN_IF_ERROR(FinalizeConfig(&config));
  TW_ASSIGN_OR_RETURN(std::unique_ptr<ServerCore> core, ServerCore::Create(config));
  return std::unique_ptr<Server>(new ServerImpl(config, std::move(core)));
}

}  // namespace tw::server
