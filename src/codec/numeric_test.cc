#include "codec/numeric.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tw::codec {
namespace {

TEST(Numeric, EveryBf16ValueRoundTripsAndTiesGoToEven) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = Bf16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToBf16(f), h) << std::hex << h;
  }
  EXPECT_EQ(FloatToBf16(1.0f + 1.0f / 256), 0x3F80);          // halfway, 0x3F80 is even: down
  EXPECT_EQ(FloatToBf16(1.0f + 3.0f / 256), 0x3F82);          // halfway, 0x3F81 odd: up
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(NAN))));
}

TEST(Numeric, EveryF16ValueRoundTripsAndTheEdgesRound) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = F16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToF16(f), h) << std::hex << h;
  }
  EXPECT_EQ(FloatToF16(65519.0f), 0x7BFF);                    // below the midpoint to 65536: 65504
  EXPECT_EQ(FloatToF16(65520.0f), 0x7C00);                    // the midpoint rounds to infinity
  EXPECT_EQ(FloatToF16(std::ldexp(1.0f, -24)), 0x0001);       // the smallest subnormal
  EXPECT_EQ(FloatToF16(std::ldexp(1.0f, -25)), 0x0000);       // half of it: ties to even (0)
  EXPECT_EQ(FloatToF16(3 * std::ldexp(1.0f, -25)), 0x0002);   // 1.5 of it: ties to even (2)
  EXPECT_EQ(FloatToF16(-2.0f), 0xC000);
}

TEST(Numeric, EveryE4m3ValueRoundTripsAndLargeValuesSaturate) {
  for (uint32_t b = 0; b < 0x100; ++b) {
    const float f = E4m3ToFloat(static_cast<uint8_t>(b));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToE4m3(f), b) << std::hex << b << " " << f;
  }
  EXPECT_EQ(E4m3ToFloat(0x7E), 448.0f);
  EXPECT_EQ(E4m3ToFloat(0x01), 1.0f / 512);                  // the smallest subnormal, 2^-9
  EXPECT_EQ(FloatToE4m3(1000.0f), 0x7E);
  EXPECT_EQ(FloatToE4m3(-1000.0f), 0xFE);
  EXPECT_EQ(FloatToE4m3(1.0f + 1.0f / 16), 0x38);            // halfway between 1 (0x38) and 1.125: even
  EXPECT_EQ(FloatToE4m3(1.0f + 3.0f / 16), 0x3A);            // halfway between 1.125 (odd) and 1.25
  EXPECT_TRUE(std::isnan(E4m3ToFloat(FloatToE4m3(NAN))));
}

}  // namespace
}  // namespace tw::codec
