#include <gtest/gtest.h>

#include <random>

#include "common/hash.h"
#include "net/frame.h"
#include "net/messages.h"
#include "net/payload_checksum.h"

namespace tw::net {
namespace {

TEST(Frame, HeaderRoundTrips) {
  FrameHeader h;
  h.type = static_cast<uint8_t>(Op::kGet);
  h.flags = kFlagNoReply;
  h.request_id = 0x1122334455667788ull;
  h.meta_bytes = 77;
  h.payload_bytes = 1ull << 33;
  uint8_t buf[kFrameHeaderBytes];
  EncodeFrameHeader(h, buf);
  FrameLimits limits;
  limits.max_payload_bytes = 1ull << 34;
  Result<FrameHeader> d = DecodeFrameHeader(buf, limits);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->type, h.type);
  EXPECT_EQ(d->flags, h.flags);
  EXPECT_EQ(d->request_id, h.request_id);
  EXPECT_EQ(d->meta_bytes, 77u);
  EXPECT_EQ(d->payload_bytes, 1ull << 33);
}

TEST(Frame, RejectsBadMagicVersionFlagsAndLimits) {
  FrameHeader h;
  h.type = 1;
  uint8_t buf[kFrameHeaderBytes];
  FrameLimits limits;
  EncodeFrameHeader(h, buf);
  buf[0] ^= 1;
  EXPECT_TRUE(DecodeFrameHeader(buf, limits).status().IsCorruption());
  EncodeFrameHeader(h, buf);
  buf[4] = 9;
  EXPECT_EQ(DecodeFrameHeader(buf, limits).status().code(), StatusCode::kNotSupported);
  EncodeFrameHeader(h, buf);
  buf[7] = 0x80;
  EXPECT_TRUE(DecodeFrameHeader(buf, limits).status().IsCorruption());
  h.meta_bytes = limits.max_meta_bytes + 1;
  EncodeFrameHeader(h, buf);
  EXPECT_TRUE(DecodeFrameHeader(buf, limits).status().IsResourceExhausted());
  EXPECT_TRUE(DecodeFrameHeader(std::span<const uint8_t>(buf, 10), limits).status().IsCorruption());
}

TEST(Messages, PutRoundTrips) {
  PutRequest p;
  p.ns.bytes[0] = 7;
  for (int i = 0; i < 3; ++i) {
    PutRequest::Item it;
    it.key.bytes[1] = static_cast<uint8_t>(i);
    it.parent.bytes[2] = static_cast<uint8_t>(i);
    it.length = 1000 + i;
    it.checksum = 42 + i;
    p.items.push_back(it);
  }
  MetaWriter w;
  p.Encode(w);
  Result<PutRequest> d = PutRequest::Decode(w.str(), 4096);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->items.size(), 3u);
  EXPECT_EQ(d->ns, p.ns);
  EXPECT_EQ(d->items[2].key, p.items[2].key);
  EXPECT_EQ(d->items[2].length, 1002u);
  EXPECT_EQ(d->items[2].checksum, 44u);
  // Over the batch limit, truncated, or with trailing bytes: refused.
  EXPECT_FALSE(PutRequest::Decode(w.str(), 2).ok());
  EXPECT_FALSE(PutRequest::Decode(std::string_view(w.str()).substr(0, w.size() - 1), 4096).ok());
  EXPECT_FALSE(PutRequest::Decode(w.str() + "x", 4096).ok());
}

TEST(Messages, ForgedCountsDoNotAllocate) {
  MetaWriter w;
  w.Id(NamespaceId{});
  w.U64(0);
  w.U32(0xFFFFFFFFu);  // 4 billion keys, none present
  EXPECT_TRUE(KeysRequest::Decode(w.str(), 0xFFFFFFFFu).status().IsCorruption());
}

TEST(Messages, ResponsesRoundTrip) {
  MetaWriter w;
  w.Stat(Status::Ok());
  GetResponse g;
  g.items.push_back({Status::Ok(), 10, 99});
  g.items.push_back({Status::NotFound(), 0, 0});
  g.Encode(w);
  MetaReader r(w.str());
  ASSERT_TRUE(r.Stat().ok());
  Result<GetResponse> d = GetResponse::Decode(r, 16);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->items.size(), 2u);
  EXPECT_EQ(d->items[0].checksum, 99u);
  EXPECT_TRUE(d->items[1].status.IsNotFound());

  StoreStats s;
  s.gets = 5;
  s.tiers.push_back(TierStats{Tier::kDram, 100, 50, 2, 3, 4, 5, 6, 7, 8});
  MetaWriter ws;
  EncodeStoreStats(s, ws);
  MetaReader rs(ws.str());
  Result<StoreStats> ds = DecodeStoreStats(rs);
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(ds->gets, 5u);
  ASSERT_EQ(ds->tiers.size(), 1u);
  EXPECT_EQ(ds->tiers[0].bytes_written, 7u);
  EXPECT_TRUE(ds->tiers[0].admitting);
}

// A tier that stopped admitting says so over the wire; stats from a daemon of the first release
// (no admitting trailer) still decode, every tier read as admitting.
TEST(Messages, StoreStatsCarryAdmitting) {
  StoreStats s;
  s.tiers.push_back(TierStats{Tier::kDram, 100, 50, 2, 3, 4, 5, 6, 7, 8});
  s.tiers.push_back(TierStats{Tier::kDisk, 900, 10, 1, 0, 1, 0, 0, 4096, 1});
  s.tiers[1].admitting = false;
  MetaWriter w;
  EncodeStoreStats(s, w);
  MetaReader r(w.str());
  Result<StoreStats> d = DecodeStoreStats(r);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->tiers.size(), 2u);
  EXPECT_TRUE(d->tiers[0].admitting);
  EXPECT_FALSE(d->tiers[1].admitting);
  EXPECT_TRUE(r.done());

  // The first release: no admitting flags (2 bytes), no skipped_short (8 bytes).
  const std::string old_release = w.str().substr(0, w.str().size() - 2 - 8);
  MetaReader ro(old_release);
  Result<StoreStats> o = DecodeStoreStats(ro);
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->tiers[1].admitting);
  EXPECT_EQ(o->tiers[1].bytes_written, 4096u);
}

// skipped_short (retention classes) follows the admitting flags; a daemon without it decodes as 0.
TEST(Messages, StoreStatsCarrySkippedShort) {
  StoreStats s;
  s.skipped_short = 12;
  s.tiers.push_back(TierStats{Tier::kDram, 100, 50, 2, 3, 4, 5, 6, 7, 8});
  s.tiers[0].admitting = false;
  MetaWriter w;
  EncodeStoreStats(s, w);
  MetaReader r(w.str());
  Result<StoreStats> d = DecodeStoreStats(r);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->skipped_short, 12u);
  EXPECT_TRUE(r.done());
  const std::string before = w.str().substr(0, w.str().size() - 8);
  MetaReader rb(before);
  Result<StoreStats> b = DecodeStoreStats(rb);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->skipped_short, 0u);
  EXPECT_FALSE(b->tiers[0].admitting);
}

// REGISTER's retention fields are optional on the wire: a client asking for nothing new sends the
// first release's bytes, and a first-release client's request decodes with the defaults.
TEST(Messages, RegisterCarriesRetentionOnlyWhenAsked) {
  RegisterRequest plain;
  plain.nspace = "ns-bytes";
  plain.ttl_ms = 300'000;
  MetaWriter pw;
  plain.Encode(pw);
  MetaWriter first_release;
  first_release.Bytes(plain.nspace);
  first_release.U64(plain.ttl_ms);
  EXPECT_EQ(pw.str(), first_release.str());
  Result<RegisterRequest> d = RegisterRequest::Decode(first_release.str());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->ttl_ms, 300'000u);
  EXPECT_FALSE(d->ttl_sliding);
  EXPECT_EQ(d->min_prefix_tokens, 0u);

  RegisterRequest full = plain;
  full.ttl_sliding = true;
  full.min_prefix_tokens = 1024;
  MetaWriter fw;
  full.Encode(fw);
  Result<RegisterRequest> f = RegisterRequest::Decode(fw.str());
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->ttl_sliding);
  EXPECT_EQ(f->min_prefix_tokens, 1024u);
  std::string bad = fw.str();
  bad[bad.size() - 5] = 2;  // ttl_sliding is 0 or 1
  EXPECT_FALSE(RegisterRequest::Decode(bad).ok());
  EXPECT_FALSE(RegisterRequest::Decode(fw.str().substr(0, fw.str().size() - 1)).ok());
}

// Store outcomes are a trailer of PUT (ItemsResponse) and RESERVE (SegmentsResponse) replies:
// a reply without one (a daemon of version 1) decodes with none, the client then reports the
// usage as unknown; with one, each item's outcome comes back; a trailer whose count disagrees
// with the items, or an unknown outcome, is corruption.
TEST(Messages, StoreOutcomesAreReadOnlyWherePresent) {
  ItemsResponse plain;
  plain.items = {Status::Ok(), Status::NotFound()};
  MetaWriter pw;
  plain.Encode(pw);
  MetaReader pr(pw.str());
  Result<ItemsResponse> p = ItemsResponse::Decode(pr, 8);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->items.size(), 2u);
  EXPECT_TRUE(p->outcomes.empty());

  ItemsResponse with = plain;
  with.outcomes = {StoreOutcome::kStored, StoreOutcome::kNone};
  MetaWriter ww;
  with.Encode(ww);
  EXPECT_EQ(ww.str().substr(0, pw.str().size()), pw.str());  // the first release's bytes, then the trailer
  MetaReader wr(ww.str());
  Result<ItemsResponse> w = ItemsResponse::Decode(wr, 8);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->outcomes, with.outcomes);

  std::string bad = ww.str();
  bad.back() = 9;  // no such outcome
  MetaReader br(bad);
  EXPECT_FALSE(ItemsResponse::Decode(br, 8).ok());
  MetaWriter miscount;
  plain.Encode(miscount);
  EncodeOutcomes({StoreOutcome::kStored}, miscount);  // one outcome for two items
  MetaReader mr(miscount.str());
  EXPECT_FALSE(ItemsResponse::Decode(mr, 8).ok());

  SegmentsResponse seg;
  seg.items.resize(2);
  seg.items[1].id = 7;
  seg.items[1].segments = {{4096, 65536}};
  seg.outcomes = {StoreOutcome::kPresent, StoreOutcome::kNone};
  MetaWriter sw;
  seg.Encode(sw);
  MetaReader sr(sw.str());
  Result<SegmentsResponse> sd = SegmentsResponse::Decode(sr, 8);
  ASSERT_TRUE(sd.ok());
  EXPECT_EQ(sd->outcomes, seg.outcomes);
  EXPECT_EQ(sd->items[1].segments[0].length, 65536u);
}

// RESERVE's judge_short is sent only when false (Store::Reserve's single blocks, version 2).
TEST(Messages, ReserveSaysWhenItIsNotAPromptToJudge) {
  ReserveRequest req;
  req.refs.push_back({BlockKey(), BlockKey()});
  MetaWriter a;
  req.Encode(a);
  EXPECT_TRUE(ReserveRequest::Decode(a.str(), 8)->judge_short);
  req.judge_short = false;
  MetaWriter b;
  req.Encode(b);
  EXPECT_EQ(b.size(), a.size() + 1);
  EXPECT_FALSE(ReserveRequest::Decode(b.str(), 8)->judge_short);

  // PUT's flag comes last, after the optional lifetimes, and is told from them by its size.
  PutRequest put;
  put.items.push_back({BlockKey(), BlockKey(), 16, 1, 0});
  put.judge_short = false;
  MetaWriter p1;
  put.Encode(p1);
  Result<PutRequest> d1 = PutRequest::Decode(p1.str(), 8);
  ASSERT_TRUE(d1.ok());
  EXPECT_FALSE(d1->judge_short);
  EXPECT_EQ(d1->items[0].expires_in_ms, 0u);
  put.items[0].expires_in_ms = 5000;
  MetaWriter p2;
  put.Encode(p2);
  Result<PutRequest> d2 = PutRequest::Decode(p2.str(), 8);
  ASSERT_TRUE(d2.ok());
  EXPECT_FALSE(d2->judge_short);
  EXPECT_EQ(d2->items[0].expires_in_ms, 5000u);
  put.judge_short = true;
  MetaWriter p3;
  put.Encode(p3);
  EXPECT_TRUE(PutRequest::Decode(p3.str(), 8)->judge_short);
}

TEST(Messages, RandomBytesNeverCrashAnyDecoder) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(rng() % 96, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    for (uint8_t op = 1; op <= static_cast<uint8_t>(Op::kPing); ++op) {
      (void)ValidateRequestMeta(static_cast<Op>(op), bytes, 64);
    }
  }
}

TEST(PayloadChecksum, StreamingEqualsOneShot) {
  std::vector<std::byte> data(1 << 20);
  std::mt19937_64 rng(3);
  for (auto& b : data) b = std::byte(rng());
  std::vector<std::span<const std::byte>> segs = {std::span<const std::byte>(data).subspan(0, 12345),
                                                  std::span<const std::byte>(data).subspan(12345)};
  EXPECT_EQ(ChecksumOfSegments(segs), Checksum64(data.data(), data.size()));
}

}  // namespace
}  // namespace tw::net
