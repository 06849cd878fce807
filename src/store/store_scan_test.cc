// EmbeddedStore::ForEachObject over both tiers: the scan cluster re-replication relies on. Every
// object is visited exactly once, whether it is only in DRAM, only on disk, or in both.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <map>

#include "store/store_test_util.h"
#include "tw/embedded_store.h"

namespace tw {
namespace {

using testing::ChainKeys;

// A fresh directory under the working directory (the build tree: /tmp may be tmpfs, which has no
// O_DIRECT), removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::current_path() / "store_scan_test.XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

EmbeddedStoreOptions SmallTwoTierStore(const std::string& dir, DiskAdmission admission) {
  EmbeddedStoreOptions o;
  o.dram_capacity_bytes = 64 << 10;  // 16 objects of 4 KiB: a 60-block chain spills to disk
  o.page_bytes = 4096;
  o.prefault = false;
  o.disk_dir = dir;
  o.disk_capacity_bytes = 8ull << 20;
  o.disk_region_bytes = 1ull << 20;
  o.disk_write_queue_bytes = 1ull << 20;
  o.disk_io_bytes = 64 << 10;
  o.disk_admission = admission;
  return o;
}

// Visits per key.
std::map<BlockKey, int> Scan(EmbeddedStore& store, const NamespaceId& ns) {
  std::map<BlockKey, int> visits;
  store.ForEachObject([&](const Namespace& n, const NamespaceOptions&, const BlockKey& k) {
    EXPECT_EQ(n.Id(), ns);
    ++visits[k];
    return true;
  });
  return visits;
}

void ExpectEachOnce(const std::map<BlockKey, int>& visits, const std::vector<BlockKey>& keys) {
  EXPECT_EQ(visits.size(), keys.size());
  for (const BlockKey& k : keys) {
    auto it = visits.find(k);
    ASSERT_NE(it, visits.end()) << "never visited: " << k.ToHex();
    EXPECT_EQ(it->second, 1) << k.ToHex();
  }
}

TEST(StoreScan, VisitsDiskOnlyObjectsOnce) {
  TempDir dir;
  auto store = EmbeddedStore::Open(SmallTwoTierStore(dir.path(), DiskAdmission::kOnEvict)).value();
  Namespace nspace = testing::SmallNamespace();
  NamespaceId ns = store->RegisterNamespace(nspace, {}).value();
  auto keys = ChainKeys(nspace, 60, 1);
  ASSERT_TRUE(testing::PutChain(*store, ns, nspace, keys).ok());
  ASSERT_TRUE(store->FlushDisk().ok());
  // The head of the chain was evicted from DRAM and lives on disk only.
  auto r = store->Lookup(ns, std::span<const BlockKey>(keys.data(), 1));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->matched, 1u);
  ASSERT_EQ(r->tiers[0], Tier::kDisk) << "the test needs a disk-only object";
  ExpectEachOnce(Scan(*store, ns), keys);
}

TEST(StoreScan, VisitsObjectsInBothTiersOnce) {
  TempDir dir;
  auto store = EmbeddedStore::Open(SmallTwoTierStore(dir.path(), DiskAdmission::kWriteThrough)).value();
  Namespace nspace = testing::SmallNamespace();
  NamespaceId ns = store->RegisterNamespace(nspace, {}).value();
  auto keys = ChainKeys(nspace, 8, 2);  // fits DRAM; write-through puts every one on disk too
  ASSERT_TRUE(testing::PutChain(*store, ns, nspace, keys).ok());
  ASSERT_TRUE(store->FlushDisk().ok());
  EXPECT_EQ(store->Stats()->tiers.back().objects, keys.size());
  ExpectEachOnce(Scan(*store, ns), keys);
  // Stopping early stops both passes.
  int visits = 0;
  store->ForEachObject([&](const Namespace&, const NamespaceOptions&, const BlockKey&) { return ++visits < 3; });
  EXPECT_EQ(visits, 3);
}

TEST(StoreScan, SkipsObjectsOfNamespacesNotRegisteredSinceRestart) {
  TempDir tmp;
  const std::string& dir = tmp.path();
  Namespace nspace = testing::SmallNamespace();
  auto keys = ChainKeys(nspace, 5, 3);
  {
    auto store = EmbeddedStore::Open(SmallTwoTierStore(dir, DiskAdmission::kWriteThrough)).value();
    NamespaceId ns = store->RegisterNamespace(nspace, {}).value();
    ASSERT_TRUE(testing::PutChain(*store, ns, nspace, keys).ok());
    ASSERT_TRUE(store->FlushDisk().ok());
  }
  auto store = EmbeddedStore::Open(SmallTwoTierStore(dir, DiskAdmission::kWriteThrough)).value();
  int visits = 0;
  store->ForEachObject([&](const Namespace&, const NamespaceOptions&, const BlockKey&) { return ++visits, true; });
  EXPECT_EQ(visits, 0) << "the full namespace is not on disk: nothing to describe the object with";
  NamespaceId ns = store->RegisterNamespace(nspace, {}).value();
  ExpectEachOnce(Scan(*store, ns), keys);
}

}  // namespace
}  // namespace tw
