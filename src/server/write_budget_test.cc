#include "server/write_budget.h"

#include <gtest/gtest.h>

namespace tw::server {
namespace {

TEST(WriteBudget, BoundsEachTenantAndTheWhole) {
  WriteBudget b(/*total_bytes=*/100, /*per_tenant_bytes=*/60);
  Result<WriteBudget::Charge> a1 = b.Take("alice", 40);
  ASSERT_TRUE(a1.ok());
  EXPECT_EQ(b.Take("alice", 30).status().code(), StatusCode::kResourceExhausted);  // alice: 70 > 60
  Result<WriteBudget::Charge> b1 = b.Take("bob", 50);
  ASSERT_TRUE(b1.ok());
  Status whole = b.Take("carol", 20).status();  // 110 > 100 in all
  EXPECT_EQ(whole.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(whole.message().find("limits.max_unfinished_write_bytes "), std::string::npos) << whole.ToString();
  EXPECT_EQ(b.tenant_used_bytes("carol"), 0u);
  EXPECT_EQ(b.used_bytes(), 90u);
}

TEST(WriteBudget, ChargesGoBackWhenDestroyedOrMoved) {
  WriteBudget b(100, 100);
  {
    Result<WriteBudget::Charge> c = b.Take("t", 70);
    ASSERT_TRUE(c.ok());
    WriteBudget::Charge moved = std::move(*c);
    EXPECT_EQ(b.used_bytes(), 70u);
    WriteBudget::Charge other = *b.Take("t", 20);
    other = std::move(moved);  // the 20 go back, the 70 move over
    EXPECT_EQ(b.used_bytes(), 70u);
  }
  EXPECT_EQ(b.used_bytes(), 0u);
  EXPECT_EQ(b.tenant_used_bytes("t"), 0u);
}

}  // namespace
}  // namespace tw::server
