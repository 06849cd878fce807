// Integration tests against real daemons (fork/exec of the built binary on free ports).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "client/connection.h"
#include "common/hash.h"
#include "daemon_fixture.h"
#include "net/messages.h"
#include "server/auth.h"
#include "server/server_core.h"
#include "tw/client.h"

namespace tw {
namespace {

using testing::DaemonProcess;
using testing::PollUntil;

// 2 layers x 2 heads x 64 dims x f16 x 64 tokens: 64 KiB objects.
Namespace SmallNamespace(const std::string& model = "it-model") {
  Namespace n;
  n.tenant = "client-side-tenant-is-ignored";
  n.model_id = model;
  n.geometry = KvGeometry{2, 2, 64, KvDtype::kF16, 64};
  return n;
}

std::vector<std::byte> Fill(const BlockKey& key, size_t n) {
  std::vector<std::byte> v(n);
  std::mt19937_64 rng(key.Prefix64());
  for (auto& b : v) b = std::byte(rng());
  return v;
}

std::vector<BlockKey> Keys(const Namespace& n, size_t blocks, uint32_t salt) {
  std::vector<uint32_t> tokens(blocks * n.geometry.block_tokens);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint32_t>(i * 31 + salt);
  return n.BlockKeys(tokens);
}

std::unique_ptr<Store> Open(const std::string& url, const std::string& token = "") {
  ClientOptions o;
  o.token = token;
  o.io_timeout_ms = 10000;
  Result<std::unique_ptr<Store>> s = OpenStore(url, o);
  EXPECT_TRUE(s.ok()) << url << ": " << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

// Stores keys[0..n) as a chain; returns how many succeeded.
size_t PutChain(Store& store, const NamespaceId& ns, const Namespace& n, const std::vector<BlockKey>& keys) {
  size_t ok = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    auto data = Fill(keys[i], n.geometry.ObjectBytes());
    ok += store.Put(ns, {keys[i], i ? keys[i - 1] : n.Root()}, data).ok();
  }
  return ok;
}

// tw_requests_total{op="<op>"} from the daemon's /metrics.
uint64_t RequestCount(const DaemonProcess& d, const std::string& op) {
  const std::string text = d.HttpGet("/metrics");
  const std::string line = "tw_requests_total{op=\"" + op + "\"} ";
  const size_t at = text.find(line);
  EXPECT_NE(at, std::string::npos) << text.substr(0, 2000);
  return at == std::string::npos ? 0 : std::stoull(text.substr(at + line.size()));
}

int RawConnect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::string Frame(net::Op op, uint64_t id, const std::string& meta, uint64_t payload_bytes = 0) {
  net::FrameHeader h;
  h.type = static_cast<uint8_t>(op);
  h.request_id = id;
  h.meta_bytes = static_cast<uint32_t>(meta.size());
  h.payload_bytes = payload_bytes;
  uint8_t buf[net::kFrameHeaderBytes];
  net::EncodeFrameHeader(h, buf);
  return std::string(reinterpret_cast<char*>(buf), sizeof buf) + meta;
}

std::string HelloMeta(const std::string& token = "", uint16_t max_version = net::kMetaVersion) {
  net::HelloRequest hello;
  hello.token = token;
  hello.max_version = max_version;
  net::MetaWriter w;
  hello.Encode(w);
  return w.str();
}

// Reads one reply frame; returns its status (kUnavailable if the connection closed first).
Status ReadReply(int fd, std::string* body = nullptr) {
  uint8_t hb[net::kFrameHeaderBytes];
  size_t got = 0;
  while (got < sizeof hb) {
    ssize_t n = recv(fd, hb + got, sizeof hb - got, 0);
    if (n <= 0) return Status::Unavailable("closed");
    got += static_cast<size_t>(n);
  }
  net::FrameLimits lim;
  lim.max_payload_bytes = UINT64_MAX;
  Result<net::FrameHeader> h = net::DecodeFrameHeader(hb, lim);
  if (!h.ok()) return h.status();
  std::string meta(h->meta_bytes, '\0');
  got = 0;
  while (got < meta.size()) {
    ssize_t n = recv(fd, meta.data() + got, meta.size() - got, 0);
    if (n <= 0) return Status::Unavailable("closed");
    got += static_cast<size_t>(n);
  }
  net::MetaReader r(meta);
  Status s = r.Stat();
  if (body) *body = std::string(r.rest());
  return s;
}

uint64_t Checksum64Of(const std::vector<std::byte>& v) { return Checksum64(v.data(), v.size()); }

bool SendAll(int fd, const std::string& bytes) {
  return send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

// A raw connection that said HELLO and registered `n`: the daemon's namespace id and root.
struct RawSession {
  int fd = -1;
  NamespaceId ns;
  BlockKey root;
};

// `max_version` 1 speaks as a client of the first release.
RawSession OpenRaw(uint16_t port, const Namespace& n, uint16_t max_version = net::kMetaVersion) {
  RawSession r;
  r.fd = RawConnect(port);
  if (!SendAll(r.fd, Frame(net::Op::kHello, 1, HelloMeta("", max_version))) || !ReadReply(r.fd).ok()) return r;
  net::RegisterRequest reg;
  reg.nspace = n.Encode();
  net::MetaWriter rw;
  reg.Encode(rw);
  std::string body;
  if (!SendAll(r.fd, Frame(net::Op::kRegister, 2, rw.str())) || !ReadReply(r.fd, &body).ok()) return r;
  net::MetaReader rr(body);
  r.ns = rr.Id<NamespaceIdTag>();
  r.root = rr.Id<BlockKeyTag>();
  return r;
}


// ---- Tests

// Small objects: pages of their size, so 128 MiB holds every object the tests store.
const char kSmallPages[] = "dram: {page_bytes: 64KiB}\n";

TEST(Daemon, ConcurrentClientsOverTcpAndSharedMemory) {
  DaemonProcess d(kSmallPages);
  ASSERT_TRUE(d.ready()) << d.log();
  const Namespace n = SmallNamespace();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      auto store = Open(t % 2 ? d.unix_url() : d.tcp_url());
      if (!store) {
        ++failures;
        return;
      }
      NamespaceId ns = store->RegisterNamespace(n, {}).value();
      auto keys = Keys(n, 24, static_cast<uint32_t>(t));
      if (PutChain(*store, ns, n, keys) != keys.size()) ++failures;
      // Read back everything, with one batched round trip, and a slice of one.
      std::vector<std::vector<std::byte>> outs(keys.size(), std::vector<std::byte>(n.geometry.ObjectBytes()));
      std::vector<GetItem> items;
      for (size_t i = 0; i < keys.size(); ++i) items.push_back({keys[i], outs[i], KvSlice::All()});
      BatchStatus b = store->GetBatch(ns, items);
      if (!b.all_ok()) ++failures;
      for (size_t i = 0; i < keys.size(); ++i) failures += outs[i] != Fill(keys[i], outs[i].size());
      KvSlice layer1 = KvSlice::Layers(1, 2);
      std::vector<std::byte> slice(n.geometry.SliceBytes(layer1));
      if (!store->Get(ns, keys[3], slice, layer1).ok()) ++failures;
      auto full = Fill(keys[3], n.geometry.ObjectBytes());
      failures += std::memcmp(slice.data(), full.data() + full.size() / 2, slice.size()) != 0;
      if (store->Lookup(ns, keys)->matched != keys.size()) ++failures;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0) << d.log();
  // Both transports see the same warehouse.
  auto tcp = Open(d.tcp_url());
  auto shm = Open(d.unix_url());
  ASSERT_TRUE(tcp && shm) << d.log();
  NamespaceId ns = tcp->RegisterNamespace(n, {}).value();
  auto keys = Keys(n, 4, 1000);
  ASSERT_EQ(shm->RegisterNamespace(n, {}).value(), ns);
  ASSERT_EQ(PutChain(*shm, ns, n, keys), 4u);
  EXPECT_EQ(tcp->Lookup(ns, keys)->matched, 4u);
  ReadHandle h = shm->Acquire(ns, keys[0], 1000).value();
  EXPECT_EQ(h.size_bytes(), n.geometry.ObjectBytes());
  auto expect = Fill(keys[0], n.geometry.ObjectBytes());
  std::vector<std::byte> got(expect.size());
  ByteRun all{0, expect.size()};
  ASSERT_TRUE(h.CopyRuns(std::span<const ByteRun>(&all, 1), got).ok());
  EXPECT_EQ(got, expect);
  // AcquireBatch: one result per key, a miss in the middle, the bytes of each object; over shared
  // memory in one ACQUIRE request (a GPU load acquires its whole prefix so).
  std::vector<BlockKey> batch = {keys[0], keys[1], Keys(n, 1, 999)[0], keys[3]};
  for (Store* store : {shm.get(), tcp.get()}) {
    const uint64_t acquires = RequestCount(d, "acquire");
    std::vector<Result<ReadHandle>> hs = store->AcquireBatch(ns, batch, 1000);
    ASSERT_EQ(hs.size(), batch.size());
    if (store == shm.get()) EXPECT_EQ(RequestCount(d, "acquire"), acquires + 1);
    EXPECT_TRUE(hs[2].status().IsNotFound()) << hs[2].status().ToString();
    for (size_t i : {0, 1, 3}) {
      ASSERT_TRUE(hs[i].ok()) << i << ": " << hs[i].status().ToString();
      auto want = Fill(batch[i], n.geometry.ObjectBytes());
      std::vector<std::byte> have(want.size());
      ByteRun whole{0, want.size()};
      ASSERT_TRUE(hs[i]->CopyRuns(std::span<const ByteRun>(&whole, 1), have).ok());
      EXPECT_EQ(have, want) << i;
    }
  }
  EXPECT_TRUE(shm->AcquireBatch(ns, batch, 0)[0].status().IsInvalidArgument());
  EXPECT_GE(tcp->Stats()->gets, 24u * 6);
  // A whole chain in one batch, parents first, over each transport (shared memory pipelines it).
  for (Store* store : {shm.get(), tcp.get()}) {
    auto chain = Keys(n, 6, store == shm.get() ? 2000 : 3000);
    std::vector<std::vector<std::byte>> data;
    std::vector<PutItem> items;
    for (size_t i = 0; i < chain.size(); ++i) data.push_back(Fill(chain[i], n.geometry.ObjectBytes()));
    for (size_t i = 0; i < chain.size(); ++i) items.push_back({{chain[i], i ? chain[i - 1] : n.Root()}, data[i]});
    EXPECT_TRUE(store->PutBatch(ns, items).all_ok());
    EXPECT_EQ(tcp->Lookup(ns, chain)->matched, chain.size());
  }
  // Shared memory reserves a chain in windows, not block by block: 48 blocks, one RESERVE request.
  const uint64_t reserves = RequestCount(d, "reserve");
  auto chain = Keys(n, 48, 4000);
  std::vector<std::vector<std::byte>> data;
  std::vector<PutItem> items;
  for (size_t i = 0; i < chain.size(); ++i) data.push_back(Fill(chain[i], n.geometry.ObjectBytes()));
  for (size_t i = 0; i < chain.size(); ++i) items.push_back({{chain[i], i ? chain[i - 1] : n.Root()}, data[i]});
  EXPECT_TRUE(shm->PutBatch(ns, items).all_ok());
  EXPECT_EQ(RequestCount(d, "reserve") - reserves, 1u);
  EXPECT_EQ(tcp->Lookup(ns, chain)->matched, chain.size());
  for (size_t i = 0; i < chain.size(); i += 7) {
    std::vector<std::byte> out(n.geometry.ObjectBytes());
    ASSERT_TRUE(tcp->Get(ns, chain[i], out).ok());
    EXPECT_EQ(out, data[i]);
  }
}

TEST(Daemon, TenantsNeverSeeEachOthersBlocks) {
  const std::string config = "auth:\n  allow_anonymous_loopback: false\n  tenants:\n"
                             "    - {name: alice, token_sha256: " + server::HashToken("alice-token") + ", shared_memory: true}\n"
                             "    - {name: bob, token_sha256: " + server::HashToken("bob-token") + "}\n";
  DaemonProcess d(config);
  ASSERT_TRUE(d.ready()) << d.log();
  ClientOptions anon;
  EXPECT_EQ(OpenStore(d.tcp_url(), anon).status().code(), StatusCode::kUnauthenticated);
  ClientOptions wrong;
  wrong.token = "guess";
  EXPECT_EQ(OpenStore(d.unix_url(), wrong).status().code(), StatusCode::kUnauthenticated);

  auto alice = Open(d.unix_url(), "alice-token");
  auto bob = Open(d.tcp_url(), "bob-token");
  ASSERT_TRUE(alice && bob);
  const Namespace n = SmallNamespace();  // the very same namespace fields and tokens
  NamespaceId a_ns = alice->RegisterNamespace(n, {}).value();
  NamespaceId b_ns = bob->RegisterNamespace(n, {}).value();
  EXPECT_NE(a_ns, b_ns);
  auto keys = Keys(n, 8, 7);
  ASSERT_EQ(PutChain(*alice, a_ns, n, keys), keys.size());
  EXPECT_EQ(alice->Lookup(a_ns, keys)->matched, keys.size());
  // Bob computes the same keys: they do not exist for him.
  EXPECT_EQ(bob->Lookup(b_ns, keys)->matched, 0u);
  std::vector<std::byte> out(n.geometry.ObjectBytes());
  EXPECT_TRUE(bob->Get(b_ns, keys[0], out).IsNotFound());
  // Naming Alice's namespace id outright is answered like an unknown namespace.
  EXPECT_TRUE(bob->Lookup(a_ns, keys).status().IsFailedPrecondition());
  EXPECT_TRUE(bob->Get(a_ns, keys[0], out).IsFailedPrecondition());
  EXPECT_TRUE(bob->Remove(a_ns, keys[0]).IsFailedPrecondition());
  EXPECT_FALSE(bob->Pin(a_ns, keys, 1000).ok());
  EXPECT_EQ(alice->Lookup(a_ns, keys)->matched, keys.size());
}

// STATS over the wire tells a tenant about its own calls and bytes, never another tenant's; an
// admin token sees the whole daemon.
TEST(Daemon, StatsShowATenantItsOwnCountsAndAnAdminEverything) {
  const std::string config = "auth:\n  tenants:\n"
                             "    - {name: alice, token_sha256: " + server::HashToken("alice-token") + "}\n"
                             "    - {name: bob, token_sha256: " + server::HashToken("bob-token") + ", quota_bytes: 1MiB}\n"
                             "    - {name: ops, token_sha256: " + server::HashToken("ops-token") + ", admin: true}\n";
  DaemonProcess d(config);
  ASSERT_TRUE(d.ready()) << d.log();
  auto alice = Open(d.tcp_url(), "alice-token");
  auto bob = Open(d.tcp_url(), "bob-token");
  auto ops = Open(d.tcp_url(), "ops-token");
  auto anon = Open(d.tcp_url());
  ASSERT_TRUE(alice && bob && ops && anon) << d.log();
  const Namespace n = SmallNamespace();
  NamespaceId a_ns = alice->RegisterNamespace(n, {}).value();
  auto keys = Keys(n, 6, 21);
  ASSERT_EQ(PutChain(*alice, a_ns, n, keys), keys.size());
  EXPECT_EQ(alice->Lookup(a_ns, keys)->matched, keys.size());

  StoreStats a = alice->Stats().value();
  EXPECT_EQ(a.puts, keys.size());
  EXPECT_EQ(a.lookups, 1u);
  EXPECT_EQ(a.lookup_hits, keys.size());
  ASSERT_FALSE(a.tiers.empty());
  EXPECT_GE(a.tiers[0].used_bytes, keys.size() * n.geometry.ObjectBytes());  // whole pages

  StoreStats b = bob->Stats().value();  // bob did nothing: he learns nothing of alice's work
  EXPECT_EQ(b.puts, 0u);
  EXPECT_EQ(b.lookups, 0u);
  ASSERT_FALSE(b.tiers.empty());
  EXPECT_EQ(b.tiers[0].used_bytes, 0u);
  EXPECT_EQ(b.tiers[0].objects, 0u);
  EXPECT_EQ(b.tiers[0].capacity_bytes, 1u << 20);  // his quota, not the arena
  // The anonymous tenant of a daemon with token tenants is a tenant like any other.
  EXPECT_EQ(anon->Stats()->puts, 0u);

  StoreStats all = ops->Stats().value();
  EXPECT_GE(all.puts, keys.size());
  EXPECT_EQ(all.tiers[0].objects, keys.size());
}

TEST(Daemon, TenantQuotaIsEnforced) {
  const std::string config = "auth:\n  tenants:\n    - {name: small, token_sha256: " + server::HashToken("t") + ", quota_bytes: 2MiB}\n"
                             "dram: {page_bytes: 64KiB}\n"
                             "disk: {enabled: false}\n";  // the DRAM quota alone: nothing evicted may reappear from disk
  DaemonProcess d(config);
  ASSERT_TRUE(d.ready()) << d.log();
  auto store = Open(d.tcp_url(), "t");
  ASSERT_TRUE(store) << d.log();
  const Namespace n = SmallNamespace();
  NamespaceId ns = store->RegisterNamespace(n, {}).value();
  // Over its quota, a tenant evicts its own objects first.
  auto keys = Keys(n, 64, 3);  // 4 MiB of 64 KiB objects: twice the quota
  EXPECT_EQ(PutChain(*store, ns, n, keys), keys.size());
  EXPECT_LE(store->Stats()->tiers[0].used_bytes, 2u << 20);
  EXPECT_LT(store->Lookup(ns, keys)->matched, keys.size());
  // When all it holds is pinned, it is refused.
  auto pinned = Keys(n, 32, 4);  // exactly the quota
  ASSERT_EQ(PutChain(*store, ns, n, pinned), pinned.size());
  ASSERT_TRUE(store->Pin(ns, pinned, 60000).ok());
  auto more = Keys(n, 1, 5);
  auto data = Fill(more[0], n.geometry.ObjectBytes());
  EXPECT_TRUE(store->Put(ns, {more[0], n.Root()}, data).IsResourceExhausted());
}

// STATS answers what the daemon holds, tier by tier with `admitting`; once the daemon is gone the
// call fails (kUnavailable) instead of reading as an idle warehouse's zeros.
TEST(Daemon, StatsComeFromTheDaemonOrFail) {
  DaemonProcess d;
  ASSERT_TRUE(d.ready()) << d.log();
  auto store = Open(d.tcp_url());
  ASSERT_TRUE(store) << d.log();
  const Namespace n = SmallNamespace();
  NamespaceId ns = store->RegisterNamespace(n, {}).value();
  auto keys = Keys(n, 4, 9);
  ASSERT_EQ(PutChain(*store, ns, n, keys), keys.size());
  Result<StoreStats> s = store->Stats();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_GE(s->puts, keys.size());
  ASSERT_FALSE(s->tiers.empty());
  EXPECT_EQ(s->tiers[0].tier, Tier::kDram);
  EXPECT_EQ(s->tiers[0].objects, keys.size());
  for (const TierStats& t : s->tiers) EXPECT_TRUE(t.admitting) << TierName(t.tier);
  d.Kill(SIGKILL);
  Result<StoreStats> gone = store->Stats();
  EXPECT_EQ(gone.status().code(), StatusCode::kUnavailable) << gone.status().ToString();
}

TEST(Daemon, KilledClientMidPutLeavesNothingVisible) {
  DaemonProcess d(kSmallPages);
  ASSERT_TRUE(d.ready()) << d.log();
  const Namespace n = SmallNamespace();
  auto store = Open(d.unix_url());
  ASSERT_TRUE(store) << d.log();
  NamespaceId ns = store->RegisterNamespace(n, {}).value();
  auto keys = Keys(n, 2, 99);
  const uint64_t object_bytes = n.geometry.ObjectBytes();

  // 1. Over TCP: a child sends a PUT frame and half its payload, then is killed.
  int ready_pipe[2];
  ASSERT_EQ(pipe(ready_pipe), 0);
  pid_t child = fork();
  if (child == 0) {
    RawSession raw = OpenRaw(d.tcp_port(), n);
    const int fd = raw.fd;
    net::PutRequest put;
    put.ns = raw.ns;
    auto data = Fill(keys[0], object_bytes);
    put.items.push_back({keys[0], raw.root, object_bytes, Checksum64Of(data)});
    net::MetaWriter w;
    put.Encode(w);
    SendAll(fd, Frame(net::Op::kPut, 3, w.str(), object_bytes));
    SendAll(fd, std::string(reinterpret_cast<char*>(data.data()), object_bytes / 2));
    (void)!write(ready_pipe[1], "x", 1);
    pause();
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(ready_pipe[0], &c, 1), 1);
  // The kill must find the half payload received: wait until the daemon holds the PUT's pages.
  EXPECT_TRUE(PollUntil([&] { return store->Stats()->tiers[0].used_bytes > 0; })) << "the half PUT never arrived";
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);

  // 2. Over shared memory: a child reserves pages, fills half, and is killed before COMMIT.
  pid_t child2 = fork();
  if (child2 == 0) {
    ClientOptions o;
    auto s = OpenStore(d.unix_url(), o);
    if (!s.ok()) _exit(1);
    NamespaceId cns = (*s)->RegisterNamespace(n, {}).value();
    Result<WriteHandle> h = (*s)->Reserve(cns, {keys[1], n.Root()});
    if (!h.ok()) _exit(2);
    auto data = Fill(keys[1], object_bytes);
    (void)h->Write(0, std::span<const std::byte>(data).subspan(0, object_bytes / 2));
    (void)!write(ready_pipe[1], "y", 1);
    pause();
    _exit(0);
  }
  ASSERT_EQ(read(ready_pipe[0], &c, 1), 1);
  kill(child2, SIGKILL);
  waitpid(child2, nullptr, 0);
  close(ready_pipe[0]);
  close(ready_pipe[1]);
  // The daemon notices each death when its socket closes; wait for the pages to come back.
  EXPECT_TRUE(PollUntil([&] { return store->Stats()->tiers[0].used_bytes == 0; }))
      << "the killed writers' pages never came back";

  for (const BlockKey& k : keys) {
    EXPECT_EQ(store->Lookup(ns, std::vector<BlockKey>{k})->matched, 0u);
    std::vector<std::byte> out(object_bytes);
    EXPECT_TRUE(store->Get(ns, k, out).IsNotFound());
  }
  // And the keys can be stored properly afterwards.
  EXPECT_EQ(PutChain(*store, ns, n, {keys[0]}), 1u);
}

// Writers that send a PUT header and part of its payload, then stall, must not hold the arena: each
// tenant's unfinished writes are bounded (a quarter of DRAM by default), other tenants are not
// affected at all, and a stalled payload is dropped after limits.payload_stall_ms.
TEST(Daemon, StalledWritersCannotStarveOthers) {
  const std::string bob = server::HashToken("bob-token");
  DaemonProcess d("dram: {page_bytes: 1MiB}\nlimits: {payload_stall_ms: 2500}\nauth:\n  tenants:\n    - {name: bob, token_sha256: " +
                  bob + "}\n");
  ASSERT_TRUE(d.ready()) << d.log();
  Namespace n = SmallNamespace("stall-model");
  n.geometry = KvGeometry{8, 4, 128, KvDtype::kF16, 256};  // 4 MiB objects; the 128 MiB arena: 32 MiB per tenant
  const uint64_t object_bytes = n.geometry.ObjectBytes();
  ASSERT_EQ(object_bytes, 4u << 20);
  auto keys = Keys(n, 12, 7);
  std::vector<int> stalled;
  for (int i = 0; i < 10; ++i) {
    RawSession raw = OpenRaw(d.tcp_port(), n);
    ASSERT_GE(raw.fd, 0);
    net::PutRequest put;
    put.ns = raw.ns;
    auto data = Fill(keys[i], object_bytes);
    put.items.push_back({keys[i], raw.root, object_bytes, Checksum64Of(data)});
    net::MetaWriter w;
    put.Encode(w);
    ASSERT_TRUE(SendAll(raw.fd, Frame(net::Op::kPut, 3, w.str(), object_bytes)));
    ASSERT_TRUE(SendAll(raw.fd, std::string(reinterpret_cast<char*>(data.data()), 1 << 20)));
    stalled.push_back(raw.fd);
  }
  // The anonymous tenant's unfinished writes hold its whole budget once the daemon has read the ten
  // headers (a slow build may take a while): from then on its next PUT is refused...
  auto anon = Open(d.unix_url());
  ASSERT_TRUE(anon);
  NamespaceId ans = anon->RegisterNamespace(n, {}).value();
  auto data = Fill(keys[10], object_bytes);
  Status refused;
  for (int i = 0; i < 100; ++i) {
    refused = anon->Put(ans, {keys[10], n.Root()}, data);
    if (refused.code() == StatusCode::kResourceExhausted) break;
    if (refused.ok()) ASSERT_TRUE(anon->Remove(ans, keys[10]).ok());  // stored before the budget filled up
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted) << refused.ToString();
  // ...while another tenant stores and reads as usual.
  auto other = Open(d.tcp_url(), "bob-token");
  ASSERT_TRUE(other);
  NamespaceId bns = other->RegisterNamespace(n, {}).value();
  ASSERT_TRUE(other->Put(bns, {keys[11], n.Root()}, Fill(keys[11], object_bytes)).ok());
  std::vector<std::byte> out(object_bytes);
  EXPECT_TRUE(other->Get(bns, keys[11], out).ok());
  // After payload_stall_ms the stalled writers are closed and their reservations dropped.
  for (int fd : stalled) {
    EXPECT_FALSE(ReadReply(fd).ok()) << "a stalled PUT's connection stayed open";
    close(fd);
  }
  Status again = anon->Put(ans, {keys[10], n.Root()}, data);
  EXPECT_TRUE(again.ok()) << again.ToString();
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(anon->Lookup(ans, std::vector<BlockKey>{keys[i]})->matched, 0u);
  const std::string metrics = d.HttpGet("/metrics");
  EXPECT_NE(metrics.find("tw_payload_stalls_total 10"), std::string::npos) << metrics.substr(0, 4000);
  EXPECT_EQ(metrics.find("tw_writes_over_budget_total 0"), std::string::npos);
}

TEST(Daemon, CorruptPayloadIsRefused) {
  DaemonProcess d;
  ASSERT_TRUE(d.ready()) << d.log();
  const Namespace n = SmallNamespace();
  auto store = Open(d.tcp_url());
  NamespaceId ns = store->RegisterNamespace(n, {}).value();
  auto keys = Keys(n, 1, 5);
  const uint64_t object_bytes = n.geometry.ObjectBytes();
  RawSession raw = OpenRaw(d.tcp_port(), n);
  const int fd = raw.fd;
  ASSERT_EQ(raw.ns, ns);
  const BlockKey root = raw.root;
  std::string body;
  auto data = Fill(keys[0], object_bytes);
  net::PutRequest put;
  put.ns = ns;
  put.items.push_back({keys[0], root, object_bytes, 12345});  // wrong checksum
  net::MetaWriter w;
  put.Encode(w);
  ASSERT_TRUE(SendAll(fd, Frame(net::Op::kPut, 3, w.str(), object_bytes) + std::string(reinterpret_cast<char*>(data.data()), object_bytes)));
  ASSERT_TRUE(ReadReply(fd, &body).ok());
  net::MetaReader pr(body);
  Result<net::ItemsResponse> items = net::ItemsResponse::Decode(pr, 1);
  ASSERT_TRUE(items.ok());
  EXPECT_TRUE(items->items[0].IsCorruption()) << items->items[0].ToString();
  close(fd);
  EXPECT_EQ(store->Lookup(ns, keys)->matched, 0u);
}

// Store outcomes (per-request accounting) are a version-2 trailer of PUT replies: a client that
// settled on version 1 gets the first release's bytes exactly (its decoder rejects trailing
// bytes), one on version 2 gets "stored" then "present".
TEST(Daemon, PutRepliesCarryOutcomesOnlyForClientsThatSpeakVersion2) {
  DaemonProcess d;
  ASSERT_TRUE(d.ready()) << d.log();
  const Namespace n = SmallNamespace();
  const uint64_t object_bytes = n.geometry.ObjectBytes();
  auto keys = Keys(n, 2, 9);
  for (const uint16_t version : {uint16_t{1}, uint16_t{2}}) {
    SCOPED_TRACE("version " + std::to_string(version));
    RawSession raw = OpenRaw(d.tcp_port(), n, version);
    for (const net::StoreOutcome expected : {net::StoreOutcome::kStored, net::StoreOutcome::kPresent}) {
      const auto& key = keys[version - 1];
      auto data = Fill(key, object_bytes);
      net::PutRequest put;
      put.ns = raw.ns;
      put.items.push_back({key, raw.root, object_bytes, Checksum64Of(data)});
      net::MetaWriter w;
      put.Encode(w);
      ASSERT_TRUE(SendAll(raw.fd, Frame(net::Op::kPut, 3, w.str(), object_bytes) +
                                      std::string(reinterpret_cast<char*>(data.data()), object_bytes)));
      std::string body;
      ASSERT_TRUE(ReadReply(raw.fd, &body).ok());
      net::MetaReader r(body);
      if (version == 1) {  // the first release's decoder, field by field
        ASSERT_EQ(r.U32(), 1u);
        EXPECT_TRUE(r.Stat().ok());
        EXPECT_TRUE(r.Finish("put reply").ok()) << "trailing bytes";
      } else {
        Result<net::ItemsResponse> items = net::ItemsResponse::Decode(r, 1);
        ASSERT_TRUE(items.ok());
        ASSERT_EQ(items->outcomes.size(), 1u);
        EXPECT_EQ(items->outcomes[0], expected);
      }
    }
    close(raw.fd);
  }
}

TEST(Daemon, SurvivesMalformedFrames) {
  DaemonProcess d;
  ASSERT_TRUE(d.ready()) << d.log();
  std::mt19937_64 rng(2024);
  int refused = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 400; ++i) {
    int fd = RawConnect(d.tcp_port());
    ASSERT_GE(fd, 0) << "daemon stopped accepting after " << i << " malformed connections\n" << d.log();
    std::string bytes;
    const int kind = i % 8;
    const bool hello_first = kind >= 4;
    if (hello_first) bytes = Frame(net::Op::kHello, 1, HelloMeta());
    if (kind == 0 || kind == 4) {  // pure noise
      bytes += std::string(rng() % 200 + 1, '\0');
      for (size_t k = bytes.size() - 1; k > 0 && bytes[k] == '\0'; --k) bytes[k] = static_cast<char>(rng());
    } else if (kind == 1 || kind == 5) {  // a valid header of a random op with garbage metadata
      std::string meta(rng() % 100, '\0');
      for (char& ch : meta) ch = static_cast<char>(rng());
      bytes += Frame(static_cast<net::Op>(rng() % 20), 2, meta);
    } else if (kind == 2 || kind == 6) {  // header limits: huge metadata or payload
      bytes += Frame(net::Op::kGet, 3, "", 1ull << 60);
    } else {  // a header with a flipped bit
      std::string f = Frame(net::Op::kLookup, 4, std::string(40, '\0'));
      f[rng() % net::kFrameHeaderBytes] ^= static_cast<char>(1 << (rng() % 8));
      bytes += f;
    }
    SendAll(fd, bytes);
    shutdown(fd, SHUT_WR);
    std::string tail;
    Status s = ReadReply(fd);
    if (hello_first && s.ok()) s = ReadReply(fd);
    refused += !s.ok();
    close(fd);
  }
  EXPECT_GT(refused, 300);
  EXPECT_TRUE(d.alive());
  // Each close is logged with its peer, but the flood costs at most a line a second (plus the
  // first): the log says what happened without letting a hostile peer fill the disk.
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::string log = d.log();
  size_t lines = 0;
  for (size_t at = log.find("since the last such line"); at != std::string::npos; at = log.find("since the last such line", at + 1)) ++lines;
  EXPECT_GE(lines, 1u) << log;
  EXPECT_LE(lines, static_cast<size_t>(seconds) + 2) << log;
  EXPECT_NE(log.find("(tcp 127.0.0.1:"), std::string::npos) << "protocol errors are logged with the peer\n" << log;
  auto store = Open(d.tcp_url());
  ASSERT_TRUE(store);
  const Namespace n = SmallNamespace();
  NamespaceId ns = store->RegisterNamespace(n, {}).value();
  EXPECT_EQ(PutChain(*store, ns, n, Keys(n, 2, 1)), 2u);
}

TEST(Daemon, SigtermDrainsTheRequestInFlight) {
  DaemonProcess d;
  ASSERT_TRUE(d.ready()) << d.log();
  const Namespace n = SmallNamespace();
  auto store = Open(d.tcp_url());
  NamespaceId ns = store->RegisterNamespace(n, {}).value();
  const uint64_t object_bytes = n.geometry.ObjectBytes();
  auto keys = Keys(n, 1, 11);

  RawSession raw = OpenRaw(d.tcp_port(), n);
  const int fd = raw.fd;
  ASSERT_EQ(raw.ns, ns);
  const BlockKey root = raw.root;
  std::string body;
  auto data = Fill(keys[0], object_bytes);
  net::PutRequest put;
  put.ns = ns;
  put.items.push_back({keys[0], root, object_bytes, Checksum64Of(data)});
  net::MetaWriter w;
  put.Encode(w);
  // Half the PUT, then SIGTERM, then the rest: the daemon must finish it and acknowledge it.
  const std::string payload(reinterpret_cast<char*>(data.data()), object_bytes);
  ASSERT_TRUE(SendAll(fd, Frame(net::Op::kPut, 3, w.str(), object_bytes) + payload.substr(0, object_bytes / 2)));
  // SIGTERM must find the PUT in flight: wait until the daemon holds its pages.
  ASSERT_TRUE(PollUntil([&] { return store->Stats()->tiers[0].used_bytes > 0; })) << "the half PUT never arrived";
  d.Signal(SIGTERM);
  // A negative (it does not exit while the PUT is unfinished) can only be watched for a while.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(d.alive()) << "the daemon exited with a request in flight";
  // Meanwhile it refuses new connections' requests (it stopped accepting).
  ASSERT_TRUE(SendAll(fd, payload.substr(object_bytes / 2)));
  ASSERT_TRUE(ReadReply(fd, &body).ok());
  net::MetaReader pr(body);
  Result<net::ItemsResponse> items = net::ItemsResponse::Decode(pr, 1);
  ASSERT_TRUE(items.ok());
  EXPECT_TRUE(items->items[0].ok()) << items->items[0].ToString();
  // After the reply the connection is closed and the daemon exits cleanly.
  EXPECT_FALSE(ReadReply(fd).ok());
  close(fd);
  EXPECT_EQ(d.Wait(), 0) << d.log();
}

// The subscription exists by the time Subscribe returns: a block stored at once after it, on another
// connection, is always seen. (The daemon once replied before joining the event hub; the first
// event slipped through now and then.) Thirty subscribe-then-store rounds make the race likely.
TEST(Daemon, EventsStartTheMomentSubscribeReturns) {
  DaemonProcess d;
  ASSERT_TRUE(d.ready()) << d.log();
  const Namespace n = SmallNamespace();
  auto store = Open(d.tcp_url());
  NamespaceId ns = store->RegisterNamespace(n, {}).value();
  for (int round = 0; round < 30; ++round) {
    Result<std::unique_ptr<EventStream>> events = Subscribe(d.tcp_url());
    ASSERT_TRUE(events.ok()) << events.status().ToString();
    auto keys = Keys(n, 1, 1000 + round);
    ASSERT_EQ(PutChain(*store, ns, n, keys), 1u);
    Result<StoreEvent> e = (*events)->Next(5000);
    ASSERT_TRUE(e.ok()) << "round " << round << ": " << e.status().ToString();
    EXPECT_EQ(e->kind, StoreEvent::Kind::kStored);
    EXPECT_EQ(e->key, keys[0]);
  }
}

TEST(Daemon, ClientReconnectsAfterRestartAndEventsFlow) {
  DaemonProcess d;
  ASSERT_TRUE(d.ready()) << d.log();
  const Namespace n = SmallNamespace();
  auto store = Open(d.tcp_url());
  NamespaceId ns = store->RegisterNamespace(n, {}).value();
  Result<std::unique_ptr<EventStream>> events = Subscribe(d.tcp_url());
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  auto keys = Keys(n, 3, 21);
  ASSERT_EQ(PutChain(*store, ns, n, keys), 3u);
  for (const BlockKey& k : keys) {
    Result<StoreEvent> e = (*events)->Next(5000);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ(e->kind, StoreEvent::Kind::kStored);
    EXPECT_EQ(e->key, k);
    EXPECT_EQ(e->ns, ns);
  }
  EXPECT_EQ((*events)->Next(50).status().code(), StatusCode::kDeadlineExceeded);

  // Same port after a restart: the client reconnects and re-registers its namespace by itself.
  const uint16_t port = d.tcp_port();
  d.Kill(SIGKILL);
  DaemonProcess d2("", "127.0.0.1:" + std::to_string(port));
  if (!d2.ready()) GTEST_SKIP() << "port " << port << " was taken meanwhile";
  EXPECT_EQ(store->Lookup(ns, keys)->matched, 0u);  // DRAM does not survive a restart
  EXPECT_EQ(PutChain(*store, ns, n, keys), 3u);
  EXPECT_EQ(store->Lookup(ns, keys)->matched, 3u);
}

}  // namespace
}  // namespace tw

namespace tw {
namespace {

// The slow-subscriber rule holds however the subscriber's socket is sized: with a 4 KiB receive
// buffer, a subscriber that keeps reading while events keep coming either receives them or is
// disconnected (it must resynchronise); it is never left in silence on an open connection.
TEST(Daemon, SubscriberWithATinyReceiveBufferIsNeverLeftInSilence) {
  DaemonProcess d("dram: {page_bytes: 4KiB}\nlimits: {payload_stall_ms: 1000}\n");
  ASSERT_TRUE(d.ready()) << d.log();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int rcvbuf = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(d.tcp_port());
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  timeval tv{3, 0};  // events keep coming: 3 s of silence on an open subscription is the bug
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ASSERT_TRUE(SendAll(fd, Frame(net::Op::kHello, 1, HelloMeta())));
  ASSERT_TRUE(ReadReply(fd).ok());
  ASSERT_TRUE(SendAll(fd, Frame(net::Op::kSubscribe, 2, "")));
  ASSERT_TRUE(ReadReply(fd).ok());

  std::atomic<bool> stop{false};
  std::thread writer([&] {  // new tiny objects in batches, until told to stop: a steady flood of events
    auto store = Open(d.unix_url());
    if (!store) return;
    Namespace n = SmallNamespace("events-flood");
    n.geometry = KvGeometry{1, 1, 8, KvDtype::kF16, 4};
    NamespaceId ns = store->RegisterNamespace(n, {}).value();
    std::vector<std::byte> obj(n.geometry.ObjectBytes(), std::byte{1});
    for (uint32_t round = 0; !stop; ++round) {
      std::vector<uint32_t> tokens(4 * 1000);
      for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = round * 10000 + static_cast<uint32_t>(i);
      std::vector<BlockKey> keys = n.BlockKeys(tokens);
      std::vector<PutItem> items;
      for (size_t i = 0; i < keys.size(); ++i) items.push_back({{keys[i], i ? keys[i - 1] : n.Root()}, obj});
      (void)store->PutBatch(ns, items);
    }
  });
  size_t received = 0;
  bool closed = false, silent = false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(12);
  char buf[256];
  while (std::chrono::steady_clock::now() < until) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      received += static_cast<size_t>(n);
      std::this_thread::sleep_for(std::chrono::microseconds(500));  // a slow reader
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      silent = true;
    } else {
      closed = true;
    }
    break;
  }
  stop = true;
  writer.join();
  close(fd);
  EXPECT_FALSE(silent) << "3 s of silence on an open subscription while events kept coming, after " << received
                       << " bytes";
  if (closed) EXPECT_NE(d.log().find("subscriber"), std::string::npos) << d.log();
  EXPECT_TRUE(d.alive());
}

TEST(Daemon, SubscribersSeeEvictionsAndDemotionsOfTheirTenantOnly) {
  // 128 MiB of 2 MiB pages hold 64 objects: 100 puts evict at least 36, each demoted to disk.
  const std::string config = "disk: {admission: on_evict}\nauth:\n  tenants:\n"
                             "    - {name: alice, token_sha256: " + server::HashToken("alice-token") + "}\n"
                             "    - {name: bob, token_sha256: " + server::HashToken("bob-token") + "}\n";
  DaemonProcess d(config);
  ASSERT_TRUE(d.ready()) << d.log();
  ClientOptions alice_opts, bob_opts;
  alice_opts.token = "alice-token";
  bob_opts.token = "bob-token";
  Result<std::unique_ptr<EventStream>> alice_events = Subscribe(d.tcp_url(), alice_opts);
  Result<std::unique_ptr<EventStream>> bob_events = Subscribe(d.tcp_url(), bob_opts);
  ASSERT_TRUE(alice_events.ok() && bob_events.ok());
  auto alice = Open(d.tcp_url(), "alice-token");
  const Namespace n = SmallNamespace();
  NamespaceId ns = alice->RegisterNamespace(n, {}).value();
  auto keys = Keys(n, 100, 77);
  ASSERT_EQ(PutChain(*alice, ns, n, keys), keys.size());

  size_t stored_dram = 0, evicted_dram = 0, stored_disk = 0;
  std::set<BlockKey> evicted;
  for (;;) {
    Result<StoreEvent> e = (*alice_events)->Next(2000);
    if (!e.ok()) {
      ASSERT_EQ(e.status().code(), StatusCode::kDeadlineExceeded) << e.status().ToString();
      break;
    }
    ASSERT_EQ(e->ns, ns);
    if (e->kind == StoreEvent::Kind::kStored && e->tier == Tier::kDram) ++stored_dram;
    if (e->kind == StoreEvent::Kind::kEvicted && e->tier == Tier::kDram) {
      ++evicted_dram;
      evicted.insert(e->key);
    }
    if (e->kind == StoreEvent::Kind::kStored && e->tier == Tier::kDisk) {
      ++stored_disk;
      EXPECT_TRUE(evicted.count(e->key)) << "a demotion follows the eviction of the same block";
    }
  }
  EXPECT_EQ(stored_dram, keys.size());
  EXPECT_GE(evicted_dram, 36u);
  EXPECT_EQ(stored_disk, evicted_dram);
  // What the events say is what a lookup finds: the evicted blocks are served from disk.
  LookupResult hit = alice->Lookup(ns, keys).value();
  ASSERT_EQ(hit.matched, keys.size());
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(hit.tiers[i] == Tier::kDisk, evicted.count(keys[i]) > 0) << i;
  // Bob's subscription saw none of it.
  EXPECT_EQ((*bob_events)->Next(100).status().code(), StatusCode::kDeadlineExceeded);
}

TEST(Daemon, RestartServesWhatTheDiskTierHeld) {
  DaemonProcess d("disk: {capacity_bytes: 1GiB, admission: write_through}\n");
  ASSERT_TRUE(d.ready()) << d.log();
  const Namespace n = SmallNamespace();
  auto keys = Keys(n, 16, 77);
  {
    auto store = Open(d.tcp_url());
    NamespaceId ns = store->RegisterNamespace(n, {}).value();
    ASSERT_EQ(PutChain(*store, ns, n, keys), keys.size());
  }
  d.Signal(SIGTERM);
  ASSERT_EQ(d.Wait(), 0) << d.log();
  d.Start();  // same data directory, new ports
  ASSERT_TRUE(d.ready()) << d.log();
  auto store = Open(d.unix_url());
  NamespaceId ns = store->RegisterNamespace(n, {}).value();
  Result<LookupResult> hit = store->Lookup(ns, keys);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit->matched, keys.size()) << d.log();
  for (size_t i = 0; i < hit->matched; ++i) {
    std::vector<std::byte> out(n.geometry.ObjectBytes());
    ASSERT_TRUE(store->Get(ns, keys[i], out).ok());
    EXPECT_EQ(out, Fill(keys[i], out.size()));
  }
}

}  // namespace
}  // namespace tw
