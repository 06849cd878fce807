// `tokenwarehouse bench net`: the daemon's data path against its ceilings, in one run.
//
// Ceilings, measured in every round on this machine: memcpy (one thread) and raw loopback TCP (one
// stream, a plain socket pair, blocking send and MSG_WAITALL recv). Each is measured with several
// call sizes (memcpy in 256 KiB and 32 MiB pieces; send/recv of 256 KiB, 1 MiB and 32 MiB), because
// which is fastest depends on the machine (on the 2-vCPU VM smaller pieces stay in cache and win by
// 10-15%); the ceiling is the pattern with the best median, so it is the best a plain program does.
// Then the daemon (started in-process on free ports) moves the same objects over TCP (tw://) and over the shared-memory path (unix://), and redis-server (started
// on a free port if installed; spoken to in RESP over a plain socket) SETs and GETs them too. Every
// figure is the median of --reps rounds; each round moves --round-mib of 2 MiB and of 32 MiB objects
// in one pipelined batch, the way an engine loads a long prefix.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "bench_util.h"
#include "commands.h"
#include "server/server.h"
#include "tw/client.h"

namespace tw::cli {
namespace {

struct NetOptions {
  int reps = 5;
  uint64_t round_mib = 256;
  uint64_t dram_mib = 1536;
  bool json = false;
  bool redis = true;
};

struct SizeResult {
  uint64_t object_bytes = 0;
  double tcp_get = 0, tcp_put = 0, shm_get = 0, shm_put = 0, redis_get = 0, redis_set = 0;
  double tcp_get_cpu = 0;  // GB per CPU-second, all threads
};

// ---- ceilings

// CPU time of the whole process (every thread: client, daemon, sender), in nanoseconds. Bytes per
// CPU-second is the figure the machine's other load cannot distort: it says what each path costs.
uint64_t ProcessCpuNanos() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto ns = [](const timeval& t) { return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(t.tv_usec) * 1000ull; };
  return ns(u.ru_utime) + ns(u.ru_stime);
}

constexpr uint64_t kMemcpyPieces[] = {256 << 10, 32 << 20};
constexpr uint64_t kTcpCallBytes[] = {256 << 10, 1 << 20, 32 << 20};

// One round of memcpy over `bytes` in `piece`-byte copies (fresh destinations: like a GET's output).
double MemcpyRound(const Buffer& src, Buffer& dst, uint64_t bytes, uint64_t piece) {
  const uint64_t t0 = MonotonicNanos();
  for (uint64_t off = 0; off < bytes; off += piece) std::memcpy(dst.data + off, src.data + off, std::min(piece, bytes - off));
  return Gbps(bytes, MonotonicNanos() - t0);
}

// Rounds of one ceiling, one series per call size; the ceiling is the series with the best median.
struct Ceiling {
  std::vector<std::vector<double>> rounds;      // [call size][round] GB/s
  std::vector<std::vector<double>> cpu_rounds;  // [call size][round] GB per CPU-second, where measured
  explicit Ceiling(size_t patterns) : rounds(patterns), cpu_rounds(patterns) {}
  size_t best() const {
    size_t b = 0;
    for (size_t i = 1; i < rounds.size(); ++i) {
      if (Median(rounds[i]) > Median(rounds[b])) b = i;
    }
    return b;
  }
  double gbps() const { return Median(rounds[best()]); }
  double cpu_gbps() const { return Median(cpu_rounds[best()]); }
};

int ListenLoopback(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 4) != 0) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

int ConnectLoopback(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool WriteAll(int fd, const void* p, size_t n) {
  auto* c = static_cast<const char*>(p);
  while (n) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// MSG_WAITALL: one wakeup per buffer instead of one per arriving segment; the cheapest way to
// receive, so the ceiling is a real ceiling (the client library receives the same way).
bool ReadAll(int fd, void* p, size_t n) {
  auto* c = static_cast<char*>(p);
  while (n) {
    ssize_t r = recv(fd, c, n, MSG_WAITALL);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// One TCP stream over loopback, no protocol: the network ceiling. Each call moves `call_bytes`.
class RawTcp {
 public:
  RawTcp() : src_(kBufferBytes), dst_(kBufferBytes) {
    std::memset(src_.data, 7, kBufferBytes);
    uint16_t port = 0;
    int lfd = ListenLoopback(&port);
    if (lfd < 0) return;
    cfd_ = ConnectLoopback(port);
    sfd_ = accept(lfd, nullptr, nullptr);
    close(lfd);
  }
  ~RawTcp() {
    if (cfd_ >= 0) close(cfd_);
    if (sfd_ >= 0) close(sfd_);
  }
  double Round(uint64_t bytes, uint64_t call_bytes) {
    if (cfd_ < 0 || sfd_ < 0) return 0;
    const size_t calls = std::max<size_t>(1, bytes / call_bytes);
    auto at = [&](size_t i) { return (i * call_bytes) % kBufferBytes; };  // cycle through the buffers
    std::thread sender([&] {
      for (size_t i = 0; i < calls; ++i) WriteAll(cfd_, src_.data + at(i), call_bytes);
    });
    const uint64_t t0 = MonotonicNanos();
    for (size_t i = 0; i < calls; ++i) ReadAll(sfd_, dst_.data + at(i), call_bytes);
    const double gbps = Gbps(calls * call_bytes, MonotonicNanos() - t0);
    sender.join();
    return gbps;
  }

 private:
  static constexpr size_t kBufferBytes = 32 << 20;  // a multiple of every call size
  Buffer src_, dst_;
  int cfd_ = -1, sfd_ = -1;
};

// ---- redis-server, spoken to in RESP

class Redis {
 public:
  ~Redis() {
    if (fd_ >= 0) close(fd_);
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }

  bool Start() {
    uint16_t port = 0;
    int probe = ListenLoopback(&port);  // a free port, released just before redis takes it
    if (probe < 0) return false;
    close(probe);
    pid_ = fork();
    if (pid_ == 0) {
      int devnull = ::open("/dev/null", 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
      const std::string p = std::to_string(port);
      execlp("redis-server", "redis-server", "--port", p.c_str(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--protected-mode", "no", "--maxmemory", "0", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200 && fd_ < 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      fd_ = ConnectLoopback(port);
    }
    return fd_ >= 0;
  }

  // Pipelined SETs of every (key, value), then every reply.
  bool SetAll(const std::vector<std::string>& keys, const std::vector<std::span<const std::byte>>& values) {
    for (size_t i = 0; i < keys.size(); ++i) {
      std::string head = "*3\r\n$3\r\nSET\r\n$" + std::to_string(keys[i].size()) + "\r\n" + keys[i] + "\r\n$" +
                         std::to_string(values[i].size()) + "\r\n";
      iovec iov[3] = {{head.data(), head.size()}, {const_cast<std::byte*>(values[i].data()), values[i].size()}, {const_cast<char*>("\r\n"), 2}};
      if (!WriteV(iov, 3)) return false;
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      if (ReadLine() != "+OK") return false;
    }
    return true;
  }

  // Pipelined GETs, each value read straight into its output buffer.
  bool GetAll(const std::vector<std::string>& keys, const std::vector<std::span<std::byte>>& out) {
    std::string req;
    for (const auto& k : keys) req += "*2\r\n$3\r\nGET\r\n$" + std::to_string(k.size()) + "\r\n" + k + "\r\n";
    if (!WriteAll(fd_, req.data(), req.size())) return false;
    for (size_t i = 0; i < keys.size(); ++i) {
      std::string line = ReadLine();
      if (line.empty() || line[0] != '$' || std::stoull(line.substr(1)) != out[i].size()) return false;
      if (!ReadBuffered(out[i].data(), out[i].size())) return false;
      char crlf[2];
      if (!ReadBuffered(crlf, 2)) return false;
    }
    return true;
  }

  void FlushAll() {
    const char cmd[] = "*1\r\n$8\r\nFLUSHALL\r\n";
    WriteAll(fd_, cmd, sizeof cmd - 1);
    (void)ReadLine();
  }

 private:
  bool WriteV(iovec* iov, int n) {
    while (n > 0) {
      ssize_t w = writev(fd_, iov, n);
      if (w <= 0) return false;
      while (n > 0 && static_cast<size_t>(w) >= iov->iov_len) {
        w -= static_cast<ssize_t>(iov->iov_len);
        ++iov;
        --n;
      }
      if (n > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + w;
        iov->iov_len -= static_cast<size_t>(w);
      }
    }
    return true;
  }
  // Reads through a small buffer for reply lines; large values bypass it.
  bool Fill() {
    ssize_t r = recv(fd_, buf_, sizeof buf_, 0);
    if (r <= 0) return false;
    head_ = 0;
    tail_ = static_cast<size_t>(r);
    return true;
  }
  std::string ReadLine() {
    std::string line;
    for (;;) {
      if (head_ == tail_ && !Fill()) return "";
      char c = buf_[head_++];
      if (c == '\n') break;
      if (c != '\r') line.push_back(c);
    }
    return line;
  }
  bool ReadBuffered(void* p, size_t n) {
    auto* c = static_cast<char*>(p);
    const size_t have = std::min(n, tail_ - head_);
    std::memcpy(c, buf_ + head_, have);
    head_ += have;
    return ReadAll(fd_, c + have, n - have);
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  char buf_[64 << 10];
  size_t head_ = 0, tail_ = 0;
};

// ---- the warehouse

// 16 layers x 8 KV heads x 128 dims, bf16: 64 KiB per token, so block_tokens picks the object size.
Namespace NetNamespace(uint64_t object_bytes) {
  Namespace ns;
  ns.tenant = "bench";
  ns.model_id = "bench-net-" + std::to_string(object_bytes);
  ns.geometry = KvGeometry{16, 8, 128, KvDtype::kBF16, static_cast<uint32_t>(object_bytes / (64 << 10))};
  return ns;
}

std::vector<BlockRef> RandomRefs(const Namespace& ns, size_t n, std::mt19937_64& rng) {
  std::vector<BlockRef> refs(n);
  for (auto& r : refs) {
    for (auto& b : r.key.bytes) b = static_cast<uint8_t>(rng());
    r.parent = ns.Root();  // every block a first block: no chain order to respect between rounds
  }
  return refs;
}

// One round: PUT `count` fresh objects in one batch, GET them back in one batch, check, remove.
Status StoreRound(Store& store, const Namespace& nspace, const NamespaceId& ns, size_t count, const Buffer& src, Buffer& dst,
                  std::mt19937_64& rng, std::vector<double>* puts, std::vector<double>* gets, std::vector<double>* get_cpu = nullptr) {
  const uint64_t object_bytes = nspace.geometry.ObjectBytes();
  std::vector<BlockRef> refs = RandomRefs(nspace, count, rng);
  std::vector<PutItem> pitems;
  std::vector<GetItem> gitems;
  for (size_t i = 0; i < count; ++i) {
    pitems.push_back({refs[i], std::span<const std::byte>(src.data + i * object_bytes, object_bytes)});
    gitems.push_back({refs[i].key, std::span<std::byte>(dst.data + i * object_bytes, object_bytes), KvSlice::All()});
  }
  uint64_t t0 = MonotonicNanos();
  BatchStatus p = store.PutBatch(ns, pitems);
  puts->push_back(Gbps(count * object_bytes, MonotonicNanos() - t0));
  if (!p.all_ok()) return p.transport.ok() ? p.items[0].WithContext("put") : p.transport.WithContext("put");
  std::memset(dst.data, 0, count * object_bytes);  // so the check below proves this GET wrote every byte
  t0 = MonotonicNanos();
  const uint64_t c0 = ProcessCpuNanos();
  BatchStatus g = store.GetBatch(ns, gitems);
  gets->push_back(Gbps(count * object_bytes, MonotonicNanos() - t0));
  if (get_cpu) get_cpu->push_back(Gbps(count * object_bytes, ProcessCpuNanos() - c0));
  if (!g.all_ok()) return g.transport.ok() ? g.items[0].WithContext("get") : g.transport.WithContext("get");
  if (std::memcmp(src.data, dst.data, count * object_bytes) != 0) return Status::Internal("GET returned different bytes");
  for (const auto& ref : refs) (void)store.Remove(ns, ref.key);
  return Status::Ok();
}

Status MeasureLookup(Store& store, std::vector<double>* us) {
  Namespace nspace = NetNamespace(2 << 20);
  TW_ASSIGN_OR_RETURN(NamespaceId ns, store.RegisterNamespace(nspace, {}));
  // A 32-block prefix (8k tokens at 256 per block), the first 16 present.
  std::vector<uint32_t> tokens(32 * nspace.geometry.block_tokens);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint32_t>(i * 2654435761u);
  std::vector<BlockKey> keys = nspace.BlockKeys(tokens);
  std::vector<std::byte> kv(nspace.geometry.ObjectBytes());
  for (size_t i = 0; i < 16; ++i) TW_RETURN_IF_ERROR(store.Put(ns, {keys[i], i ? keys[i - 1] : nspace.Root()}, kv));
  for (int i = 0; i < 2000; ++i) {
    const uint64_t t0 = MonotonicNanos();
    TW_ASSIGN_OR_RETURN(LookupResult r, store.Lookup(ns, keys));
    us->push_back((MonotonicNanos() - t0) / 1e3);
    if (r.matched != 16) return Status::Internal("lookup matched " + std::to_string(r.matched));
  }
  return Status::Ok();
}

int Run(const NetOptions& o) {
  spdlog::set_level(spdlog::level::err);  // stdout carries the results (--json)
  std::mt19937_64 rng(42);
  const uint64_t round_bytes = o.round_mib << 20;
  Progress("starting a daemon (%llu MiB arena)...", static_cast<unsigned long long>(o.dram_mib));
  const std::string dir = "/tmp/tw-bench-net-" + std::to_string(getpid());
  server::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.retention.min_prefix_tokens = 0;  // it measures transfers of single blocks: store every one
  config.admin_listen = "";
  config.data_dir = dir;
  config.dram_capacity_bytes = o.dram_mib << 20;
  config.io_threads = 2;
  config.log_level = "warn";
  config.disk_enabled = false;  // the network path is measured, not the disk tier
  Result<std::unique_ptr<server::Server>> srv = server::Server::Create(config);
  if (srv.ok()) {
    if (Status s = (*srv)->Start(); !s.ok()) srv = s;
  }
  if (!srv.ok()) {
    std::fprintf(stderr, "bench net: %s\n", srv.status().ToString().c_str());
    return 1;
  }
  ClientOptions copt;
  copt.client_name = "bench net";
  Result<std::unique_ptr<Store>> tcp = OpenStore("tw://" + (*srv)->tcp_address(), copt);
  Result<std::unique_ptr<Store>> shm = OpenStore("unix://" + (*srv)->unix_path(), copt);
  if (!tcp.ok() || !shm.ok()) {
    std::fprintf(stderr, "bench net: %s\n", (tcp.ok() ? shm.status() : tcp.status()).ToString().c_str());
    return 1;
  }

  Redis redis;
  const bool have_redis = o.redis && redis.Start();
  RawTcp raw;
  Buffer src(round_bytes), dst(round_bytes);
  for (size_t i = 0; i < round_bytes; i += 8) {
    const uint64_t v = rng();
    std::memcpy(src.data + i, &v, 8);
  }
  // Ceilings are measured in every round, right before the warehouse moves the same bytes, so load
  // from other processes on the machine hits both sides of each ratio alike.
  Ceiling raw_tcp(std::size(kTcpCallBytes)), memcpy_ceiling(std::size(kMemcpyPieces));
  std::vector<SizeResult> sizes;
  for (uint64_t object_bytes : {2ull << 20, 32ull << 20}) {
    SizeResult sr;
    sr.object_bytes = object_bytes;
    const size_t count = std::max<size_t>(1, round_bytes / object_bytes);
    const Namespace nspace = NetNamespace(object_bytes);
    Result<NamespaceId> tcp_ns = (*tcp)->RegisterNamespace(nspace, {});
    Result<NamespaceId> shm_ns = (*shm)->RegisterNamespace(nspace, {});
    if (!tcp_ns.ok() || !shm_ns.ok()) {
      std::fprintf(stderr, "bench net: register: %s\n", (tcp_ns.ok() ? shm_ns.status() : tcp_ns.status()).ToString().c_str());
      return 1;
    }
    std::vector<double> tcp_put, tcp_get, shm_put, shm_get, redis_set, redis_get, tcp_get_cpu;
    for (int r = 0; r < o.reps; ++r) {
      Progress("%llu MiB objects, round %d/%d...", static_cast<unsigned long long>(object_bytes >> 20), r + 1, o.reps);
      for (size_t i = 0; i < std::size(kTcpCallBytes); ++i) {
        const uint64_t c0 = ProcessCpuNanos();
        raw_tcp.rounds[i].push_back(raw.Round(round_bytes, kTcpCallBytes[i]));
        raw_tcp.cpu_rounds[i].push_back(Gbps(round_bytes, ProcessCpuNanos() - c0));
      }
      for (size_t i = 0; i < std::size(kMemcpyPieces); ++i) {
        memcpy_ceiling.rounds[i].push_back(MemcpyRound(src, dst, round_bytes, kMemcpyPieces[i]));
      }
      Status s = StoreRound(**tcp, nspace, *tcp_ns, count, src, dst, rng, &tcp_put, &tcp_get, &tcp_get_cpu);
      if (s.ok()) s = StoreRound(**shm, nspace, *shm_ns, count, src, dst, rng, &shm_put, &shm_get);
      if (!s.ok()) {
        std::fprintf(stderr, "bench net: %s\n", s.ToString().c_str());
        return 1;
      }
      if (!have_redis) continue;
      std::vector<std::string> keys;
      std::vector<std::span<const std::byte>> values;
      std::vector<std::span<std::byte>> outs;
      for (size_t i = 0; i < count; ++i) {
        keys.push_back("kv:" + std::to_string(r) + ":" + std::to_string(i));
        values.emplace_back(src.data + i * object_bytes, object_bytes);
        outs.emplace_back(dst.data + i * object_bytes, object_bytes);
      }
      uint64_t t0 = MonotonicNanos();
      bool ok = redis.SetAll(keys, values);
      redis_set.push_back(Gbps(count * object_bytes, MonotonicNanos() - t0));
      t0 = MonotonicNanos();
      ok = ok && redis.GetAll(keys, outs);
      redis_get.push_back(Gbps(count * object_bytes, MonotonicNanos() - t0));
      redis.FlushAll();
      if (!ok) {
        std::fprintf(stderr, "bench net: redis-server stopped answering\n");
        return 1;
      }
    }
    sr.tcp_put = Median(tcp_put);
    sr.tcp_get = Median(tcp_get);
    sr.tcp_get_cpu = Median(tcp_get_cpu);
    sr.shm_put = Median(shm_put);
    sr.shm_get = Median(shm_get);
    sr.redis_set = Median(redis_set);
    sr.redis_get = Median(redis_get);
    sizes.push_back(sr);
  }
  const double raw_tcp_gbps = raw_tcp.gbps();
  const double memcpy_gbps = memcpy_ceiling.gbps();
  const unsigned long long raw_tcp_call_kib = kTcpCallBytes[raw_tcp.best()] >> 10;
  const unsigned long long memcpy_piece_kib = kMemcpyPieces[memcpy_ceiling.best()] >> 10;
  const double raw_tcp_cpu = raw_tcp.cpu_gbps();  // of the ceiling's own call size
  Progress("LOOKUP latency...");
  std::vector<double> lookup_us;
  if (Status s = MeasureLookup(**tcp, &lookup_us); !s.ok()) {
    std::fprintf(stderr, "bench net: lookup: %s\n", s.ToString().c_str());
    return 1;
  }
  std::vector<double> lookup_shm_us;
  (void)MeasureLookup(**shm, &lookup_shm_us);
  Progress("%s", "");
  tcp->reset();
  shm->reset();
  (*srv)->Shutdown();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);

  const SizeResult& big = sizes.back();
  const double p50 = Percentile(lookup_us, 50), p99 = Percentile(lookup_us, 99);
  if (o.json) {
    std::printf("{\"memcpy_gbps\":%.3f,\"raw_tcp_gbps\":%.3f,\"tw_tcp_get_gbps\":%.3f,\"tw_tcp_put_gbps\":%.3f,"
                "\"tw_shm_get_gbps\":%.3f,\"tw_shm_put_gbps\":%.3f,\"redis_get_gbps\":%.3f,\"redis_set_gbps\":%.3f,"
                "\"lookup_us_p50\":%.1f,\"lookup_us_p99\":%.1f,\"lookup_keys\":32,\"lookup_unix_us_p50\":%.1f,"
                "\"raw_tcp_cpu_gbps\":%.3f,\"tw_tcp_get_cpu_gbps\":%.3f,\"raw_tcp_call_kib\":%llu,\"memcpy_piece_kib\":%llu,"
                "\"reps\":%d,\"round_mib\":%llu,\"sizes\":[",
                memcpy_gbps, raw_tcp_gbps, big.tcp_get, big.tcp_put, big.shm_get, big.shm_put, big.redis_get, big.redis_set, p50, p99,
                Percentile(lookup_shm_us, 50), raw_tcp_cpu, big.tcp_get_cpu, raw_tcp_call_kib, memcpy_piece_kib, o.reps,
                static_cast<unsigned long long>(o.round_mib));
    for (size_t i = 0; i < sizes.size(); ++i) {
      const SizeResult& s = sizes[i];
      std::printf("%s{\"object_mib\":%llu,\"tw_tcp_get_gbps\":%.3f,\"tw_tcp_put_gbps\":%.3f,\"tw_shm_get_gbps\":%.3f,"
                  "\"tw_shm_put_gbps\":%.3f,\"redis_get_gbps\":%.3f,\"redis_set_gbps\":%.3f}",
                  i ? "," : "", static_cast<unsigned long long>(s.object_bytes >> 20), s.tcp_get, s.tcp_put, s.shm_get, s.shm_put,
                  s.redis_get, s.redis_set);
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("bench net: medians of %d rounds, %llu MiB per round, one client thread\n", o.reps,
              static_cast<unsigned long long>(o.round_mib));
  std::printf("  ceilings: memcpy %.2f GB/s (%llu KiB pieces), raw loopback TCP %.2f GB/s (%llu KiB calls)\n", memcpy_gbps,
              memcpy_piece_kib, raw_tcp_gbps, raw_tcp_call_kib);
  std::printf("  %-8s %10s %10s %10s %10s %10s %10s\n", "object", "tcp GET", "tcp PUT", "shm GET", "shm PUT", "redis GET", "redis SET");
  for (const SizeResult& s : sizes) {
    std::printf("  %4llu MiB %8.2f   %8.2f   %8.2f   %8.2f   %8.2f   %8.2f    GB/s\n", static_cast<unsigned long long>(s.object_bytes >> 20),
                s.tcp_get, s.tcp_put, s.shm_get, s.shm_put, s.redis_get, s.redis_set);
  }
  std::printf("  CPU cost (GB moved per CPU-second, all threads): raw TCP %.2f, tw TCP GET %.2f (2 MiB) %.2f (32 MiB)\n", raw_tcp_cpu,
              sizes.front().tcp_get_cpu, big.tcp_get_cpu);
  std::printf("  LOOKUP of 32 keys over TCP: p50 %.1f us, p99 %.1f us (unix socket p50 %.1f us)\n", p50, p99,
              Percentile(lookup_shm_us, 50));
  auto verdict = [](double ratio, double target) { return ratio >= target ? "ok" : "BELOW TARGET"; };
  std::printf("  targets (32 MiB objects):\n");
  std::printf("    TCP GET / raw TCP = %.2f (>= 0.7: %s)\n", big.tcp_get / raw_tcp_gbps, verdict(big.tcp_get / raw_tcp_gbps, 0.7));
  if (big.redis_get > 0) {
    std::printf("    TCP GET / redis GET = %.2f (>= 2: %s)\n", big.tcp_get / big.redis_get, verdict(big.tcp_get / big.redis_get, 2.0));
  } else {
    std::printf("    TCP GET / redis GET: redis-server not found\n");
  }
  std::printf("    shm GET / memcpy = %.2f (>= 0.7: %s)\n", big.shm_get / memcpy_gbps, verdict(big.shm_get / memcpy_gbps, 0.7));
  return 0;
}

}  // namespace

void RegisterBenchNetCommand(CLI::App& bench) {
  auto o = std::make_shared<NetOptions>();
  CLI::App* cmd = bench.add_subcommand("net", "Daemon GET/PUT over TCP and shared memory vs raw TCP, memcpy and redis-server");
  cmd->add_option("--reps", o->reps, "rounds per figure (the median is reported)");
  cmd->add_option("--round-mib", o->round_mib, "MiB moved per round and object size");
  cmd->add_option("--dram-mib", o->dram_mib, "the bench daemon's DRAM arena");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->add_flag("!--no-redis", o->redis, "skip redis-server");
  cmd->callback([o] { ExitCode() = Run(*o); });
}

}  // namespace tw::cli
