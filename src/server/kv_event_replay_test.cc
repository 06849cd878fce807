#include "server/kv_event_replay.h"

#include <gtest/gtest.h>

#include <vector>

namespace tw::server {
namespace {

TEST(KvEventReplay, SequenceIsEightBytesBigEndian) {
  EXPECT_EQ(EncodeSequence(0), std::string(8, '\0'));
  EXPECT_EQ(EncodeSequence(0x0102030405060708), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  EXPECT_EQ(EncodeSequence(-1), std::string(8, '\xff'));  // vLLM's end-of-replay marker
}

TEST(KvEventReplay, ParsesRequestWithAndWithoutDelimiter) {
  const std::string seq = EncodeSequence(42);
  std::vector<std::string_view> req{"", seq};
  ASSERT_TRUE(ParseReplayRequest(req).ok());
  EXPECT_EQ(*ParseReplayRequest(req), 42u);
  std::vector<std::string_view> dealer{seq};
  EXPECT_EQ(*ParseReplayRequest(dealer), 42u);
}

TEST(KvEventReplay, RejectsMalformedRequests) {
  const std::string seq = EncodeSequence(1);
  const std::string neg = EncodeSequence(-1);
  std::vector<std::vector<std::string_view>> bad = {
      {}, {"", seq, ""}, {"x", seq}, {"", "1234567"}, {"", "123456789"}, {"", neg}};
  for (const auto& frames : bad) {
    EXPECT_EQ(ParseReplayRequest(frames).status().code(), StatusCode::kInvalidArgument) << frames.size();
  }
}

TEST(KvEventReplay, RingKeepsTheNewestBatches) {
  ReplayBuffer ring(3);
  for (uint64_t s = 0; s < 5; ++s) ring.Add(s, "p" + std::to_string(s));
  EXPECT_EQ(ring.size(), 3u);
  std::vector<uint64_t> seen;
  ring.ForEachFrom(0, [&](uint64_t seq, const std::string& payload) {
    seen.push_back(seq);
    EXPECT_EQ(payload, "p" + std::to_string(seq));
  });
  EXPECT_EQ(seen, (std::vector<uint64_t>{2, 3, 4}));  // 0 and 1 fell out: the subscriber sees a later start
  seen.clear();
  ring.ForEachFrom(4, [&](uint64_t seq, const std::string&) { seen.push_back(seq); });
  EXPECT_EQ(seen, (std::vector<uint64_t>{4}));
}

}  // namespace
}  // namespace tw::server
