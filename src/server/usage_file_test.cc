// The usage file: counts survive a save and a load; a missing file is a first start; a damaged
// one is refused (the daemon then starts from zero) and never half-read.
#include "server/usage_file.h"

#include <gtest/gtest.h>

#include <fstream>

#include "store/tier/disk_test_util.h"

namespace tw::server {
namespace {

TEST(UsageFile, RoundTripsEveryCounter) {
  const std::string path = testing::FreshDir("usage_file") + "/usage.json";
  NamespaceId a, b;
  a.bytes[0] = 1;
  b.bytes[15] = 2;
  UsageTotals ua;
  ua.write_tokens = 256;
  ua.hit_tokens_by_tier = {0, 512, 768, 1024};
  ua.miss_tokens = 64;
  ua.read_tokens = 128;
  ua.gpu_seconds_saved = 9.5;  // derived: not stored
  ASSERT_TRUE(SaveUsageFile(path, {{a, ua}, {b, UsageTotals{}}}).ok());

  auto loaded = LoadUsageFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 2u);
  const UsageTotals& got = loaded->at(a);
  EXPECT_EQ(got.write_tokens, 256u);
  EXPECT_EQ(got.hit_tokens_by_tier[2], 768u);
  EXPECT_EQ(got.hit_tokens, 512u + 768 + 1024);
  EXPECT_EQ(got.miss_tokens, 64u);
  EXPECT_EQ(got.read_tokens, 128u);
  EXPECT_EQ(got.gpu_seconds_saved, 0);
  EXPECT_EQ(loaded->at(b).write_tokens, 0u);
}

TEST(UsageFile, MissingIsEmptyAndDamagedIsCorruption) {
  const std::string dir = testing::FreshDir("usage_file_bad");
  auto none = LoadUsageFile(dir + "/absent.json");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  std::ofstream(dir + "/cut.json") << R"({"version":1,"namespaces":[{"namespace":"00)";
  EXPECT_EQ(LoadUsageFile(dir + "/cut.json").status().code(), StatusCode::kCorruption);
  std::ofstream(dir + "/future.json") << R"({"version":99,"namespaces":[]})";
  EXPECT_EQ(LoadUsageFile(dir + "/future.json").status().code(), StatusCode::kCorruption);
}

// Seeding a namespace's counters with saved ones continues the count.
TEST(UsageFile, SeedContinuesTheCount) {
  NamespaceUsage u(16);
  UsageTotals saved;
  saved.write_tokens = 160;
  saved.hit_tokens_by_tier[1] = 32;
  u.Seed(saved);
  u.Wrote(1);
  EXPECT_EQ(u.Totals().write_tokens, 176u);
  EXPECT_EQ(u.Totals().hit_tokens, 32u);
}

}  // namespace
}  // namespace tw::server
