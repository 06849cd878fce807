#include "tw/retention.h"

#include <gtest/gtest.h>

namespace tw {
namespace {

TEST(Retention, ParsesNamedClassesDurationsAndModes) {
  EXPECT_EQ(ParseRetention("5m").value(), (Retention{300'000, true}));
  EXPECT_EQ(ParseRetention("1h").value(), (Retention{3'600'000, true}));
  EXPECT_EQ(ParseRetention("24h fixed").value(), (Retention{86'400'000, false}));
  EXPECT_EQ(ParseRetention(" 90s  sliding ").value(), (Retention{90'000, true}));
  EXPECT_EQ(ParseRetention("1500ms fixed").value(), (Retention{1500, false}));
  EXPECT_EQ(ParseRetention("7d").value(), (Retention{7 * 86'400'000ull, true}));
  EXPECT_TRUE(ParseRetention("persistent")->persistent());
}

TEST(Retention, RejectsWhatItCannotReadWithTheAcceptedForms) {
  for (const char* bad : {"", "5", "5 m", "0m", "-5m", "5min", "forever", "persistent sliding", "1h sometimes", "1h fixed x",
                          "99999999999999999999d"}) {
    Result<Retention> r = ParseRetention(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << bad;
    EXPECT_NE(r.status().message().find("persistent"), std::string::npos) << r.status().ToString();
  }
}

TEST(Retention, FormatsInTheShortestExactUnitAndRoundTrips) {
  for (const char* text : {"5m sliding", "1h fixed", "90s sliding", "1500ms fixed", "2d sliding", "persistent"}) {
    EXPECT_EQ(FormatRetention(ParseRetention(text).value()), text);
  }
}

TEST(Retention, ANamespaceMayAskForLessThanItsTenantsCapNeverMore) {
  const Retention one_hour_sliding{3'600'000, true};
  const Retention one_hour_fixed{3'600'000, false};
  const Retention persistent{};
  // 0 asks for the tenant's default, which is its cap.
  EXPECT_EQ(CapRetention(persistent, one_hour_sliding), one_hour_sliding);
  EXPECT_EQ(CapRetention(Retention{300'000, true}, one_hour_sliding), (Retention{300'000, true}));
  EXPECT_EQ(CapRetention(Retention{300'000, false}, one_hour_sliding), (Retention{300'000, false}));
  EXPECT_EQ(CapRetention(Retention{86'400'000, true}, one_hour_sliding), one_hour_sliding);
  // Renewals could outlive a fixed cap: sliding is not granted under one.
  EXPECT_EQ(CapRetention(Retention{300'000, true}, one_hour_fixed), (Retention{300'000, false}));
  // Under a persistent tenant anything finite goes, as asked.
  EXPECT_EQ(CapRetention(Retention{300'000, true}, persistent), (Retention{300'000, true}));
}

}  // namespace
}  // namespace tw
