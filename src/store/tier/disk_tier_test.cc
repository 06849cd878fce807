#include "store/tier/disk_tier.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "common/env/fault_env.h"
#include "store/tier/disk_fsck.h"
#include "store/tier/disk_test_util.h"

namespace tw {
namespace {

using testing::FreshDir;
using testing::PayloadFor;
using testing::TestGeometry;
using testing::TestKey;
using testing::TestNs;

using testing::SmallTierOptions;

std::unique_ptr<DiskTier> OpenOrDie(const DiskTierOptions& o) {
  auto t = DiskTier::Open(o);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(*t) : nullptr;
}

// Object n has (n % 7 + 1) * 4 KiB + n bytes: sizes vary and most are not block multiples.
uint64_t SizeOf(uint64_t n) { return (n % 7 + 1) * 4096 + n % 4096; }

Status Put(DiskTier& t, uint64_t n) {
  const BlockKey k = TestKey(n);
  std::vector<std::byte> data = PayloadFor(k, SizeOf(n));
  std::span<const std::byte> seg(data);
  return t.Enqueue(TestNs(), k, TestKey(n + 1000000), TestGeometry(1), 0, {&seg, 1}, data.size());
}

// Reads object n through an unaligned buffer (the bounce path) and checks every byte.
Status ReadCheck(DiskTier& t, uint64_t n) {
  std::vector<std::byte> out(SizeOf(n));
  std::span<std::byte> seg(out);
  TW_RETURN_IF_ERROR(t.Read(TestNs(), TestKey(n), {&seg, 1}));
  if (out != PayloadFor(TestKey(n), SizeOf(n))) return Status::Corruption("payload differs");
  return Status::Ok();
}

// Reads object n straight into an aligned buffer (the O_DIRECT path).
Status ReadCheckAligned(DiskTier& t, uint64_t n) {
  AlignedBuffer buf(AlignUp(SizeOf(n)));
  std::span<std::byte> seg = buf.span();
  TW_RETURN_IF_ERROR(t.Read(TestNs(), TestKey(n), {&seg, 1}));
  std::vector<std::byte> want = PayloadFor(TestKey(n), SizeOf(n));
  if (std::memcmp(buf.data(), want.data(), want.size()) != 0) return Status::Corruption("payload differs");
  return Status::Ok();
}

std::vector<std::string> RegionFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".twr") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c;
  f.read(&c, 1);
  c ^= 0x01;
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

TEST(DiskTier, WritesAndReadsBack) {
  auto t = OpenOrDie(SmallTierOptions(FreshDir("rw")));
  for (uint64_t n = 0; n < 40; ++n) ASSERT_TRUE(Put(*t, n).ok());
  // Queued objects are visible and readable before they reach the disk.
  EXPECT_TRUE(t->Contains(TestNs(), TestKey(39)));
  t->Flush();
  for (uint64_t n = 0; n < 40; ++n) {
    ASSERT_TRUE(ReadCheck(*t, n).ok()) << n;
    ASSERT_TRUE(ReadCheckAligned(*t, n).ok()) << n;
  }
  auto info = t->Find(TestNs(), TestKey(3));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->parent, TestKey(1000003));
  EXPECT_EQ(info->payload_bytes, SizeOf(3));
  EXPECT_TRUE(t->Read(TestNs(), TestKey(999), {}).IsNotFound());
  TierStats s = t->Stats();
  EXPECT_EQ(s.tier, Tier::kDisk);
  EXPECT_EQ(s.objects, 40u);
  EXPECT_EQ(s.admissions, 40u);
  EXPECT_EQ(s.hits, 80u);
  EXPECT_EQ(s.errors, 0u);
}

// A prefix load: records adjacent in the file are read by shared I/Os that run across record
// boundaries (header and payload scattered into their own buffers); every byte must land right,
// into aligned pages and bounce-buffered destinations alike.
TEST(DiskTier, ReadBatchOfAdjacentRecordsServesEveryByte) {
  auto t = OpenOrDie(SmallTierOptions(FreshDir("batch")));
  for (uint64_t n = 0; n < 30; ++n) ASSERT_TRUE(Put(*t, n).ok());
  t->Flush();
  std::vector<AlignedBuffer> aligned;
  std::vector<std::vector<std::byte>> plain;
  std::vector<std::span<std::byte>> dests;
  dests.reserve(30);
  std::vector<DiskTier::ReadItem> items;
  for (uint64_t n = 0; n < 30; ++n) {
    if (n % 3) dests.push_back(aligned.emplace_back(AlignUp(SizeOf(n))).span());
    else dests.push_back(plain.emplace_back(SizeOf(n)));
  }
  for (uint64_t n = 0; n < 30; ++n) items.push_back({TestNs(), TestKey(n), {&dests[n], 1}, Status::Ok()});
  t->ReadBatch(items);
  for (uint64_t n = 0; n < 30; ++n) {
    ASSERT_TRUE(items[n].status.ok()) << n << ": " << items[n].status.ToString();
    std::vector<std::byte> want = PayloadFor(TestKey(n), SizeOf(n));
    ASSERT_EQ(std::memcmp(dests[n].data(), want.data(), want.size()), 0) << n;
  }
  EXPECT_EQ(t->Counters().corrupt, 0u);
}

// A prefix spanning several regions is read by several threads at once (runs of records, each
// with its own io_uring): every byte lands right whatever the thread count, and a corrupt record
// in one run is that object's miss alone.
TEST(DiskTier, ReadBatchAcrossRegionsInParallelServesEveryByte) {
  for (uint32_t threads : {1u, 4u}) {
    const std::string dir = FreshDir("batch_parallel_" + std::to_string(threads));
    DiskTierOptions o = SmallTierOptions(dir);
    o.read_threads = threads;
    auto t = OpenOrDie(o);
    constexpr uint64_t kObjects = 150;  // about 2.4 MB: at least three 1 MiB regions
    for (uint64_t n = 0; n < kObjects; ++n) ASSERT_TRUE(Put(*t, n).ok());
    ASSERT_TRUE(t->Seal().ok());
    const std::vector<std::string> files = RegionFiles(dir);
    ASSERT_GE(files.size(), 3u);
    FlipByte(files[1], kBlockBytes + kBlockBytes + 7);  // the payload of region 1's first record
    std::vector<AlignedBuffer> bufs;
    std::vector<std::span<std::byte>> dests;
    std::vector<DiskTier::ReadItem> items;
    bufs.reserve(kObjects);
    dests.reserve(kObjects);
    for (uint64_t n = 0; n < kObjects; ++n) dests.push_back(bufs.emplace_back(AlignUp(SizeOf(n))).span());
    for (uint64_t n = 0; n < kObjects; ++n) items.push_back({TestNs(), TestKey(n), {&dests[n], 1}, Status::Ok()});
    t->ReadBatch(items);
    size_t missed = 0;
    for (uint64_t n = 0; n < kObjects; ++n) {
      if (!items[n].status.ok()) {
        EXPECT_TRUE(items[n].status.IsNotFound()) << items[n].status.ToString();
        ++missed;
        continue;
      }
      std::vector<std::byte> want = PayloadFor(TestKey(n), SizeOf(n));
      ASSERT_EQ(std::memcmp(dests[n].data(), want.data(), want.size()), 0) << "object " << n << ", " << threads;
    }
    EXPECT_EQ(missed, 1u) << threads << " thread(s)";
    EXPECT_EQ(t->Counters().corrupt, 1u);
  }
}

TEST(DiskTier, RefusesReadThreadsOutOfRange) {
  DiskTierOptions o = SmallTierOptions(FreshDir("read_threads"));
  o.read_threads = 0;
  EXPECT_EQ(DiskTier::Open(o).status().code(), StatusCode::kInvalidArgument);
}

// Full regions are sealed by the sealer thread while writing goes on; Seal() returns only once
// every region written so far is sealed, so another process could read them all.
TEST(DiskTier, SealWaitsForBackgroundSeals) {
  const std::string dir = FreshDir("bgseal");
  auto t = OpenOrDie(SmallTierOptions(dir));
  for (uint64_t n = 0; n < 150; ++n) ASSERT_TRUE(Put(*t, n).ok());
  ASSERT_TRUE(t->Seal().ok());
  const size_t files = RegionFiles(dir).size();
  ASSERT_GE(files, 3u);
  EXPECT_EQ(t->Counters().sealed_regions, files);
  // Another owner sees only sealed regions: it must find every object.
  DiskTierOptions reader = SmallTierOptions(dir);
  reader.owner = "reader";
  reader.shared = true;
  auto r = OpenOrDie(reader);
  for (uint64_t n = 0; n < 150; ++n) ASSERT_TRUE(ReadCheck(*r, n).ok()) << n;
}

// A region's trailer says "these records are here"; it must reach the medium only after they do.
// Every trailer write must therefore come after a Sync of its file that itself follows the file's
// last record and footer write: otherwise a power cut could keep the trailer and lose records it
// lists (a miss, since records are checksummed, but an index that lies).
TEST(DiskTier, TrailerIsWrittenOnlyAfterItsRecordsAreSynced) {
  FaultInjectingEnv env(Env::Posix());
  DiskTierOptions o = SmallTierOptions(FreshDir("sealorder"));
  o.env = &env;
  auto t = OpenOrDie(o);
  env.LogWritesAndSyncs(true);
  for (uint64_t n = 0; n < 150; ++n) ASSERT_TRUE(Put(*t, n).ok());
  ASSERT_TRUE(t->Seal().ok());
  env.LogWritesAndSyncs(false);
  const std::vector<FaultInjectingEnv::LoggedOp> log = env.TakeLog();
  std::map<std::string, bool> unsynced;  // per file: a data write not yet covered by a Sync
  size_t trailers = 0;
  for (const auto& op : log) {
    if (op.sync) {
      unsynced[op.path] = false;
    } else if (op.offset == o.region_bytes - kBlockBytes) {
      ++trailers;
      EXPECT_FALSE(unsynced[op.path]) << op.path << ": trailer written before its records were synced";
    } else if (op.offset > 0) {  // offset 0 is the region header, written before any record
      unsynced[op.path] = true;
    }
  }
  EXPECT_GE(trailers, 3u);
  EXPECT_EQ(t->Counters().sealed_regions, RegionFiles(o.dir).size());
}

// Whether the log shows a Sync after a write within `wait_ms` (it returns as soon as it does).
bool SyncFollowsWrites(FaultInjectingEnv& env, uint64_t wait_ms) {
  bool wrote = false;
  for (uint64_t waited = 0; waited <= wait_ms; waited += 10) {
    for (const auto& op : env.TakeLog()) {
      if (!op.sync) wrote = true;
      else if (wrote) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// A lightly loaded tier never fills a region, so the seal's sync alone would leave its records
// unsynced indefinitely: the active region is synced sync_interval_ms after its first unsynced record.
TEST(DiskTier, ActiveRegionIsSyncedWithinTheSyncInterval) {
  for (uint64_t interval_ms : {50, 0}) {
    FaultInjectingEnv env(Env::Posix());
    DiskTierOptions o = SmallTierOptions(FreshDir("syncinterval" + std::to_string(interval_ms)));
    o.env = &env;
    o.sync_interval_ms = interval_ms;
    auto t = OpenOrDie(o);
    env.LogWritesAndSyncs(true);
    ASSERT_TRUE(Put(*t, 1).ok());
    t->Flush();
    EXPECT_EQ(SyncFollowsWrites(env, interval_ms ? 3000 : 300), interval_ms > 0) << "sync_interval_ms " << interval_ms;
    EXPECT_EQ(t->Counters().sealed_regions, 0u);  // not by a seal
    ASSERT_TRUE(ReadCheck(*t, 1).ok());
  }
}

TEST(DiskTier, RecoversSealedRegionsAfterRestart) {
  const std::string dir = FreshDir("sealed");
  {
    auto t = OpenOrDie(SmallTierOptions(dir));
    for (uint64_t n = 0; n < 100; ++n) ASSERT_TRUE(Put(*t, n).ok());
  }  // closing drains and seals
  auto t = OpenOrDie(SmallTierOptions(dir));
  EXPECT_EQ(t->Counters().recovered_objects, 100u);
  for (uint64_t n = 0; n < 100; ++n) ASSERT_TRUE(ReadCheckAligned(*t, n).ok()) << n;
  // New writes after a restart go to a new region and survive another restart.
  for (uint64_t n = 100; n < 110; ++n) ASSERT_TRUE(Put(*t, n).ok());
  t.reset();
  t = OpenOrDie(SmallTierOptions(dir));
  EXPECT_EQ(t->Counters().recovered_objects, 110u);
  ASSERT_TRUE(ReadCheck(*t, 105).ok());
}

// A child writes and dies without sealing; the parent recovers by scanning the unsealed region.
TEST(DiskTier, RecoversUnsealedRegionAfterCrash) {
  const std::string dir = FreshDir("unsealed");
  pid_t pid = fork();
  if (pid == 0) {
    auto t = DiskTier::Open(SmallTierOptions(dir));
    if (!t.ok()) _exit(2);
    for (uint64_t n = 0; n < 30; ++n) {
      if (!Put(**t, n).ok()) _exit(3);
    }
    (*t)->Flush();
    _exit(0);  // no destructor: the region stays unsealed
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto t = OpenOrDie(SmallTierOptions(dir));
  EXPECT_EQ(t->Counters().recovered_objects, 30u);
  for (uint64_t n = 0; n < 30; ++n) ASSERT_TRUE(ReadCheck(*t, n).ok()) << n;
}

// Each restart after a crash appends to the crashed run's region instead of opening a fresh one, so
// crashes cost no region space; what each run wrote survives the next crash too, also after a torn
// record (the next run writes over it).
TEST(DiskTier, CrashedRunsRegionIsAppendedToAfterRestart) {
  const std::string dir = FreshDir("append_after_crash");
  auto crash_after_putting = [&](uint64_t first, uint64_t count) {
    pid_t pid = fork();
    if (pid == 0) {
      auto t = DiskTier::Open(SmallTierOptions(dir));
      if (!t.ok()) _exit(2);
      for (uint64_t n = first; n < first + count; ++n) {
        if (!Put(**t, n).ok()) _exit(3);
      }
      (*t)->Flush();
      _exit(0);  // no destructor: the region stays unsealed
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  };
  for (uint64_t run = 0; run < 4; ++run) crash_after_putting(run * 6, 6);
  auto files = RegionFiles(dir);
  ASSERT_EQ(files.size(), 1u) << "a restart after a crash opened a fresh region";
  // Tear the last record (a crash mid-write), then crash twice more: the torn record is a miss, the
  // records written over it and after it are recovered. (A clean close seals the region, so every
  // run up to here ends in a crash.)
  uint64_t at = kBlockBytes;
  for (uint64_t n = 0; n < 23; ++n) at += kBlockBytes + AlignUp(SizeOf(n));
  FlipByte(files[0], at + kBlockBytes + 100);  // in record 23's payload
  crash_after_putting(100, 3);
  crash_after_putting(200, 3);
  EXPECT_EQ(RegionFiles(dir).size(), 1u);
  auto t = OpenOrDie(SmallTierOptions(dir));
  EXPECT_EQ(t->Counters().recovered_objects, 29u);
  for (uint64_t n = 0; n < 23; ++n) EXPECT_TRUE(ReadCheck(*t, n).ok()) << n;
  EXPECT_FALSE(t->Contains(TestNs(), TestKey(23)));
  for (uint64_t n : {100, 101, 102, 200, 201, 202}) EXPECT_TRUE(ReadCheck(*t, n).ok()) << n;
}

TEST(DiskTier, ScanStopsAtFirstBadRecord) {
  const std::string dir = FreshDir("badrecord");
  pid_t pid = fork();
  if (pid == 0) {
    auto t = DiskTier::Open(SmallTierOptions(dir));
    if (!t.ok()) _exit(2);
    for (uint64_t n = 0; n < 10; ++n) (void)Put(**t, n);
    (*t)->Flush();
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  auto files = RegionFiles(dir);
  ASSERT_EQ(files.size(), 1u);
  // Record 5 starts after the region header and records 0-4.
  uint64_t at = kBlockBytes;
  for (uint64_t n = 0; n < 5; ++n) at += kBlockBytes + AlignUp(SizeOf(n));
  FlipByte(files[0], at + kBlockBytes + 100);  // in record 5's payload
  auto t = OpenOrDie(SmallTierOptions(dir));
  for (uint64_t n = 0; n < 5; ++n) EXPECT_TRUE(ReadCheck(*t, n).ok()) << n;
  for (uint64_t n = 5; n < 10; ++n) EXPECT_FALSE(t->Contains(TestNs(), TestKey(n))) << n;
}

TEST(DiskTier, ReclaimsColdestRegionWithinCapacity) {
  DiskTierOptions o = SmallTierOptions(FreshDir("reclaim"));
  o.capacity_bytes = 4ull << 20;  // four 1 MiB regions
  auto t = OpenOrDie(o);
  // ~7 objects per region: 200 objects need many reclaims.
  for (uint64_t n = 0; n < 200; ++n) {
    ASSERT_TRUE(Put(*t, n).ok());
    if (n % 10 == 0) {
      t->Flush();
      (void)ReadCheck(*t, 0);  // keeps object 0's region the hottest: never reclaimed
    }
    if (n == 50) {
      ASSERT_TRUE(ReadCheck(*t, 45).ok());  // read once: re-admitted when its region goes
    }
  }
  t->Flush();
  TierStats s = t->Stats();
  EXPECT_LE(s.used_bytes, o.capacity_bytes);
  EXPECT_LE(RegionFiles(o.dir).size(), 4u);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_GT(t->Counters().reclaimed_regions, 0u);
  uint64_t present = 0;
  for (uint64_t n = 0; n < 200; ++n) {
    if (!t->Contains(TestNs(), TestKey(n))) continue;
    ++present;
    ASSERT_TRUE(ReadCheck(*t, n).ok()) << n;
  }
  EXPECT_GT(present, 0u);
  EXPECT_LT(present, 200u);
  EXPECT_TRUE(t->Contains(TestNs(), TestKey(199)));  // the newest objects survive
  EXPECT_TRUE(t->Contains(TestNs(), TestKey(0)));    // and the hot one
  EXPECT_GE(t->Counters().readmitted, 1u);
}

TEST(DiskTier, BitFlipOnReadIsACountedMiss) {
  FaultInjectingEnv env(Env::Posix());
  DiskTierOptions o = SmallTierOptions(FreshDir("bitflip"));
  o.env = &env;
  auto t = OpenOrDie(o);
  for (uint64_t n = 0; n < 5; ++n) ASSERT_TRUE(Put(*t, n).ok());
  t->Flush();
  env.FlipBitsInNextReads(1);
  AlignedBuffer buf(AlignUp(SizeOf(2)));
  std::span<std::byte> seg = buf.span();
  EXPECT_TRUE(t->Read(TestNs(), TestKey(2), {&seg, 1}).IsNotFound());
  EXPECT_EQ(env.faults_injected(), 1u);
  EXPECT_EQ(t->Counters().corrupt, 1u);
  EXPECT_EQ(t->Stats().errors, 1u);
  EXPECT_FALSE(t->Contains(TestNs(), TestKey(2)));  // dropped, never served
  EXPECT_TRUE(ReadCheck(*t, 3).ok());
}

TEST(DiskTier, BitFlipInFileIsDetected) {
  const std::string dir = FreshDir("fileflip");
  { auto t = OpenOrDie(SmallTierOptions(dir)); for (uint64_t n = 0; n < 3; ++n) ASSERT_TRUE(Put(*t, n).ok()); }
  auto t = OpenOrDie(SmallTierOptions(dir));
  FlipByte(RegionFiles(dir)[0], kBlockBytes + kBlockBytes + 7);  // record 0's payload
  EXPECT_TRUE(ReadCheck(*t, 0).IsNotFound());
  EXPECT_EQ(t->Counters().corrupt, 1u);
  EXPECT_TRUE(ReadCheck(*t, 1).ok());
}

void ExpectWriteFaultStopsAdmitting(int err) {
  FaultInjectingEnv env(Env::Posix());
  DiskTierOptions o = SmallTierOptions(FreshDir("writefault" + std::to_string(err)));
  o.env = &env;
  auto t = OpenOrDie(o);
  for (uint64_t n = 0; n < 3; ++n) ASSERT_TRUE(Put(*t, n).ok());
  t->Flush();
  env.FailWrites(err);
  ASSERT_TRUE(Put(*t, 10).ok());  // queued; the write fails behind the caller
  t->Flush();
  EXPECT_FALSE(t->Counters().admitting);
  EXPECT_GE(t->Stats().errors, 1u);
  EXPECT_FALSE(t->Contains(TestNs(), TestKey(10)));  // a failed write is never visible
  EXPECT_EQ(Put(*t, 11).code(), StatusCode::kUnavailable);
  EXPECT_GE(t->Counters().dropped, 2u);
  for (uint64_t n = 0; n < 3; ++n) EXPECT_TRUE(ReadCheck(*t, n).ok());  // what is on disk is still served
}

TEST(DiskTier, EioOnWriteStopsAdmitting) { ExpectWriteFaultStopsAdmitting(EIO); }
TEST(DiskTier, EnospcOnWriteStopsAdmitting) { ExpectWriteFaultStopsAdmitting(ENOSPC); }

TEST(DiskTier, EioOnReadDropsTheObjectAndKeepsAdmitting) {
  FaultInjectingEnv env(Env::Posix());
  DiskTierOptions o = SmallTierOptions(FreshDir("readfault"));
  o.env = &env;
  auto t = OpenOrDie(o);
  ASSERT_TRUE(Put(*t, 1).ok());
  ASSERT_TRUE(Put(*t, 2).ok());
  t->Flush();
  env.FailReads(EIO);
  EXPECT_TRUE(ReadCheck(*t, 1).IsNotFound());
  env.FailReads(0);
  EXPECT_TRUE(t->Counters().admitting);  // a read error is not a write error
  EXPECT_EQ(t->Counters().read_errors, 1u);
  EXPECT_EQ(t->Stats().errors, 1u);
  EXPECT_FALSE(t->Contains(TestNs(), TestKey(1)));  // no longer promised
  EXPECT_TRUE(ReadCheck(*t, 2).ok());
  ASSERT_TRUE(Put(*t, 1).ok());  // stored again, for real
  t->Flush();
  EXPECT_TRUE(ReadCheck(*t, 1).ok());
}

TEST(DiskTier, RegionCutShortUnderALiveTierDropsWhatIsGone) {
  const std::string dir = FreshDir("truncated");
  auto t = OpenOrDie(SmallTierOptions(dir));
  for (uint64_t n = 0; n < 6; ++n) ASSERT_TRUE(Put(*t, n).ok());
  t->Flush();
  ASSERT_EQ(::truncate(RegionFiles(dir)[0].c_str(), 2 * kBlockBytes), 0);  // as `truncate -s` would
  for (uint64_t n = 0; n < 6; ++n) EXPECT_TRUE(ReadCheck(*t, n).IsNotFound()) << n;
  EXPECT_TRUE(t->Counters().admitting);
  EXPECT_GE(t->Counters().read_errors + t->Counters().corrupt, 6u);
  for (uint64_t n = 0; n < 6; ++n) EXPECT_FALSE(t->Contains(TestNs(), TestKey(n))) << n;
  ASSERT_TRUE(Put(*t, 3).ok());  // a re-PUT is stored, not counted as a duplicate
  t->Flush();
  EXPECT_TRUE(ReadCheck(*t, 3).ok());
}

TEST(DiskTier, RemoveSurvivesRestart) {
  const std::string dir = FreshDir("remove");
  {
    auto t = OpenOrDie(SmallTierOptions(dir));
    for (uint64_t n = 0; n < 5; ++n) ASSERT_TRUE(Put(*t, n).ok());
    t->Flush();
    ASSERT_TRUE(t->Remove(TestNs(), TestKey(2)).ok());
    EXPECT_TRUE(t->Remove(TestNs(), TestKey(2)).IsNotFound());
    EXPECT_FALSE(t->Contains(TestNs(), TestKey(2)));
  }
  auto t = OpenOrDie(SmallTierOptions(dir));
  EXPECT_FALSE(t->Contains(TestNs(), TestKey(2)));
  EXPECT_TRUE(ReadCheck(*t, 3).ok());
}

TEST(DiskTier, OneProcessPerOwner) {
  const std::string dir = FreshDir("owner");
  auto a = OpenOrDie(SmallTierOptions(dir));
  EXPECT_EQ(DiskTier::Open(SmallTierOptions(dir)).status().code(), StatusCode::kUnavailable);
  DiskTierOptions o = SmallTierOptions(dir);
  o.owner = "other";
  EXPECT_TRUE(DiskTier::Open(o).ok());
}

TEST(DiskTier, RejectsBadOptions) {
  DiskTierOptions o = SmallTierOptions(FreshDir("badopts"));
  o.capacity_bytes = o.region_bytes;
  EXPECT_TRUE(DiskTier::Open(o).status().IsInvalidArgument());
  o = SmallTierOptions(o.dir);
  o.owner = "a/b";
  EXPECT_TRUE(DiskTier::Open(o).status().IsInvalidArgument());
}

TEST(RegionFormat, NamesRoundTrip) {
  std::string owner;
  uint64_t seq = 0;
  EXPECT_TRUE(ParseRegionName(RegionFileName("node-1", 42), &owner, &seq));
  EXPECT_EQ(owner, "node-1");
  EXPECT_EQ(seq, 42u);
  EXPECT_FALSE(ParseRegionName("node-1.lock", &owner, &seq));
  EXPECT_FALSE(ParseRegionName("x.zz.twr", &owner, &seq));
}

}  // namespace
}  // namespace tw

namespace tw {
namespace {

// fsck finds every planted corruption (payload bytes, a record header, an unsealed region's torn
// tail, a corrupt region header), and --repair leaves a directory fsck calls clean, from which
// the tier serves every object that was not hit (the corrupt header is rebuilt, not its region dropped).
TEST(DiskFsck, FindsEveryPlantedCorruptionAndRepairs) {
  const std::string dir = FreshDir("fsck");
  {
    DiskTierOptions o = SmallTierOptions(dir);
    auto t = OpenOrDie(o);
    for (uint64_t n = 0; n < 60; ++n) ASSERT_TRUE(Put(*t, n).ok());
  }  // two sealed regions
  pid_t pid = fork();
  if (pid == 0) {  // a crashed writer leaves an unsealed region
    auto t = DiskTier::Open(SmallTierOptions(dir));
    if (!t.ok()) _exit(2);
    for (uint64_t n = 100; n < 105; ++n) (void)Put(**t, n);
    (*t)->Flush();
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  Result<FsckReport> clean = Fsck(dir, {});
  ASSERT_TRUE(clean.ok()) << clean.status().ToString();
  EXPECT_TRUE(clean->clean());
  EXPECT_EQ(clean->good_records, 65u);

  std::vector<std::string> files = RegionFiles(dir);
  ASSERT_GE(files.size(), 3u);
  // 1, 2: payload bytes of records 0 and 2 (first region); 3: the header of record 1.
  uint64_t at0 = kBlockBytes, at1 = at0 + kBlockBytes + AlignUp(SizeOf(0)), at2 = at1 + kBlockBytes + AlignUp(SizeOf(1));
  FlipByte(files[0], at0 + kBlockBytes + 10);
  FlipByte(files[0], at2 + kBlockBytes + 4000);
  FlipByte(files[0], at1 + 48);  // inside the key
  // 4: the unsealed region's third record (its payload).
  const std::string unsealed = files.back();
  uint64_t u = kBlockBytes;
  for (uint64_t n = 100; n < 102; ++n) u += kBlockBytes + AlignUp(SizeOf(n));
  FlipByte(unsealed, u + kBlockBytes + 1);
  // 5: another region's header.
  FlipByte(files[1], 20);

  Result<FsckReport> r = Fsck(dir, {});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->clean());
  EXPECT_EQ(r->bad_records, 4u);  // three in region 0, one in the unsealed region
  EXPECT_EQ(r->bad_regions, 3u);  // region 0, the unsealed region, region 1 (header)

  FsckOptions repair;
  repair.repair = true;
  r = Fsck(dir, repair);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->repaired_regions, 3u);
  r = Fsck(dir, {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->clean()) << r->bad_records << " bad records, " << r->bad_regions << " bad regions";

  auto t = OpenOrDie(SmallTierOptions(dir));
  for (uint64_t n : {0, 1, 2}) EXPECT_FALSE(t->Contains(TestNs(), TestKey(n))) << n;
  EXPECT_TRUE(ReadCheck(*t, 3).ok());
  EXPECT_TRUE(ReadCheck(*t, 100).ok());
  EXPECT_TRUE(ReadCheck(*t, 101).ok());
  EXPECT_FALSE(t->Contains(TestNs(), TestKey(102)));
  EXPECT_EQ(t->Counters().corrupt, 0u);
  for (uint64_t n = 3; n < 60; ++n) {
    ASSERT_TRUE(t->Contains(TestNs(), TestKey(n))) << n;  // region 1's header was rebuilt, its records kept
    EXPECT_TRUE(ReadCheck(*t, n).ok()) << n;
  }
}

// One bit flip in a region header costs none of its objects: the tier rebuilds the header from the
// first record (the epoch every record repeats), the file size and the file name, serves every
// object, and writes the header back so fsck then calls the directory clean.
TEST(DiskTier, ACorruptRegionHeaderIsRebuiltAndItsObjectsKept) {
  const std::string dir = FreshDir("header_flip");
  {
    auto t = OpenOrDie(SmallTierOptions(dir));
    for (uint64_t n = 0; n < 60; ++n) ASSERT_TRUE(Put(*t, n).ok());
  }
  std::vector<std::string> files = RegionFiles(dir);
  ASSERT_GE(files.size(), 2u);
  FlipByte(files[0], 20);  // inside the sealed first region's header
  ASSERT_FALSE(Fsck(dir, {})->clean());
  {
    auto t = OpenOrDie(SmallTierOptions(dir));
    for (uint64_t n = 0; n < 60; ++n) EXPECT_TRUE(ReadCheck(*t, n).ok()) << n;
    EXPECT_EQ(t->Counters().corrupt, 0u);
  }
  Result<FsckReport> after = Fsck(dir, {});
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->clean()) << "the rebuilt header was written back";
}

// With no valid first record there is nothing to rebuild from: the region holds nothing servable
// and is reused, and no wrong object is served.
TEST(DiskTier, ARegionWithACorruptHeaderAndFirstRecordIsReused) {
  const std::string dir = FreshDir("header_and_first_record");
  {
    auto t = OpenOrDie(SmallTierOptions(dir));
    for (uint64_t n = 0; n < 60; ++n) ASSERT_TRUE(Put(*t, n).ok());
  }
  std::vector<std::string> files = RegionFiles(dir);
  FlipByte(files[0], 20);
  FlipByte(files[0], kBlockBytes + 48);  // the first record's key
  auto t = OpenOrDie(SmallTierOptions(dir));
  size_t served = 0;
  for (uint64_t n = 0; n < 60; ++n) {
    if (t->Contains(TestNs(), TestKey(n))) {
      EXPECT_TRUE(ReadCheck(*t, n).ok()) << n;
      ++served;
    }
  }
  EXPECT_LT(served, 60u);
  EXPECT_GT(served, 0u);  // the second region is untouched
}

}  // namespace
}  // namespace tw
