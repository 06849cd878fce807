#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "tw/result.h"
#include "tw/status.h"

namespace tw {
namespace {

TEST(Status, OkIsDefaultAndHasNoMessage) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.ToString(), "ok");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = Status::Corruption("checksum mismatch");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.message(), "checksum mismatch");
  EXPECT_EQ(s.ToString(), "corruption: checksum mismatch");
  EXPECT_EQ(s.WithContext("region 7").ToString(), "corruption: region 7: checksum mismatch");
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
}

TEST(Status, CopiesAreIndependent) {
  Status a = Status::NotFound("a");
  Status b = a;
  a = Status::Ok();
  EXPECT_TRUE(a.ok());
  EXPECT_TRUE(b.IsNotFound());
  EXPECT_EQ(b.message(), "a");
}

TEST(Status, EveryCodeHasAName) {
  for (int c = 0; c <= static_cast<int>(StatusCode::kInternal); ++c) {
    EXPECT_NE(StatusCodeName(static_cast<StatusCode>(c)), "unknown") << c;
  }
}

Status FailIfNegative(int v) { return v < 0 ? Status::InvalidArgument("negative") : Status::Ok(); }
Result<int> Doubled(int v) {
  TW_RETURN_IF_ERROR(FailIfNegative(v));
  return 2 * v;
}
Result<int> Quadrupled(int v) {
  TW_ASSIGN_OR_RETURN(int d, Doubled(v));
  return 2 * d;
}

TEST(Result, PropagatesValuesAndErrors) {
  Result<int> ok = Quadrupled(3);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 12);
  Result<int> bad = Quadrupled(-1);
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalidArgument());
}

TEST(Result, HoldsMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 5);
}

// The shape that read freed stack in the daemon's /healthz under ASan: a range-for over a member of
// a temporary Result's value. A temporary's value() hands out a T, so the loop's range stays alive.
struct Tiers {
  std::vector<std::string> names;
};
Result<Tiers> TwoTiers() { return Tiers{{std::string(64, 'd'), std::string(64, 'k')}}; }

TEST(Result, MemberOfATemporarysValueOutlivesARangeFor) {
  size_t bytes = 0;
  for (const std::string& name : TwoTiers().value().names) bytes += name.size();
  EXPECT_EQ(bytes, 128u);
  static_assert(std::is_same_v<decltype(TwoTiers().value()), Tiers>, "a temporary's value() is a T");
}

TEST(Result, OkStatusWithoutValueBecomesInternal) {
  Result<int> r = Status::Ok();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

TEST(ResultDeathTest, ValueOfFailureAborts) {
  Result<int> r = Status::NotFound("gone");
  EXPECT_DEATH((void)r.value(), "value\\(\\) of a failed Result");
}

}  // namespace
}  // namespace tw
