// The non-virtual parts of include/tw/store.h: handles and the default batch loops.
#include <algorithm>

#include "common/check.h"
#include "common/segments.h"
#include "tw/store.h"

namespace tw {

std::string_view TierName(Tier tier) {
  switch (tier) {
    case Tier::kNone: return "none";
    case Tier::kDram: return "dram";
    case Tier::kDisk: return "disk";
    case Tier::kPeer: return "peer";
  }
  return "unknown";
}

bool BatchStatus::all_ok() const {
  if (!transport.ok()) return false;
  for (const Status& s : items) {
    if (!s.ok()) return false;
  }
  return true;
}

std::vector<Result<ReadHandle>> Store::AcquireBatch(const NamespaceId& ns, std::span<const BlockKey> keys,
                                                    uint64_t lease_ms) {
  std::vector<Result<ReadHandle>> out;
  out.reserve(keys.size());
  for (const BlockKey& key : keys) out.push_back(Acquire(ns, key, lease_ms));
  return out;
}

// ---- Usage

RequestUsage& RequestUsage::operator+=(const RequestUsage& other) {
  reported = reported && other.reported;
  write_tokens += other.write_tokens;
  present_tokens += other.present_tokens;
  skipped_short_tokens += other.skipped_short_tokens;
  for (size_t t = 0; t < hit_tokens_by_tier.size(); ++t) hit_tokens_by_tier[t] += other.hit_tokens_by_tier[t];
  miss_tokens += other.miss_tokens;
  read_tokens += other.read_tokens;
  return *this;
}

RequestUsage LookupUsage(size_t asked, std::span<const Tier> tiers, uint32_t block_tokens) {
  RequestUsage u;
  u.reported = true;
  for (Tier t : tiers) {
    const auto i = static_cast<size_t>(t);
    if (i < u.hit_tokens_by_tier.size()) u.hit_tokens_by_tier[i] += block_tokens;
  }
  u.miss_tokens = uint64_t{asked > tiers.size() ? asked - tiers.size() : 0} * block_tokens;
  return u;
}

RequestUsage ReadUsage(std::span<const Status> items, uint32_t block_tokens) {
  RequestUsage u;
  u.reported = true;
  u.read_tokens = std::count_if(items.begin(), items.end(), [](const Status& s) { return s.ok(); }) * uint64_t{block_tokens};
  return u;
}

// ---- Sums

TierStats& operator+=(TierStats& sum, const TierStats& part) {
  TW_CHECK(sum.tier == part.tier);
  sum.capacity_bytes += part.capacity_bytes;
  sum.used_bytes += part.used_bytes;
  sum.objects += part.objects;
  sum.hits += part.hits;
  sum.admissions += part.admissions;
  sum.evictions += part.evictions;
  sum.bytes_read += part.bytes_read;
  sum.bytes_written += part.bytes_written;
  sum.errors += part.errors;
  sum.admitting = sum.admitting && part.admitting;
  return sum;
}

StoreStats& operator+=(StoreStats& sum, const StoreStats& part) {
  sum.lookups += part.lookups;
  sum.lookup_keys += part.lookup_keys;
  sum.lookup_hits += part.lookup_hits;
  sum.gets += part.gets;
  sum.get_misses += part.get_misses;
  sum.puts += part.puts;
  sum.put_duplicates += part.put_duplicates;
  sum.put_rejected += part.put_rejected;
  sum.skipped_short += part.skipped_short;
  sum.pinned_objects += part.pinned_objects;
  sum.active_leases += part.active_leases;
  for (const TierStats& t : part.tiers) {
    auto it = std::find_if(sum.tiers.begin(), sum.tiers.end(), [&](const TierStats& x) { return x.tier == t.tier; });
    if (it == sum.tiers.end()) sum.tiers.push_back(t);
    else *it += t;
  }
  return sum;
}

// ---- WriteHandle

WriteHandle::WriteHandle(Store* owner, uint64_t id, std::vector<std::span<std::byte>> segments)
    : owner_(owner), id_(id), segments_(std::move(segments)) {}

WriteHandle::WriteHandle(WriteHandle&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), id_(other.id_), segments_(std::move(other.segments_)) {}

WriteHandle& WriteHandle::operator=(WriteHandle&& other) noexcept {
  if (this != &other) {
    Close();
    owner_ = std::exchange(other.owner_, nullptr);
    id_ = other.id_;
    segments_ = std::move(other.segments_);
  }
  return *this;
}

WriteHandle::~WriteHandle() { Close(); }

void WriteHandle::Close() {
  if (owner_) owner_->AbortWrite(id_);
  owner_ = nullptr;
  segments_.clear();
}

uint64_t WriteHandle::size_bytes() const {
  uint64_t n = 0;
  for (const auto& s : segments_) n += s.size();
  return n;
}

Status WriteHandle::Write(uint64_t offset, std::span<const std::byte> data) {
  if (!open()) return Status::InvalidArgument("write to a closed WriteHandle");
  return ScatterAt(segments_, offset, data);
}

Status Store::Commit(WriteHandle& handle) {
  if (!handle.open()) return Status::InvalidArgument("commit of a closed WriteHandle (already committed or aborted)");
  Store* owner = std::exchange(handle.owner_, nullptr);
  handle.segments_.clear();
  return owner->CommitWrite(handle.id_);
}

// ---- ReadHandle

ReadHandle::ReadHandle(Store* owner, uint64_t id, std::vector<std::span<const std::byte>> segments,
                       std::shared_ptr<const void> keepalive)
    : owner_(owner), id_(id), segments_(std::move(segments)), keepalive_(std::move(keepalive)) {}

ReadHandle::ReadHandle(ReadHandle&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      id_(other.id_),
      segments_(std::move(other.segments_)),
      keepalive_(std::move(other.keepalive_)) {}

ReadHandle& ReadHandle::operator=(ReadHandle&& other) noexcept {
  if (this != &other) {
    Close();
    owner_ = std::exchange(other.owner_, nullptr);
    id_ = other.id_;
    segments_ = std::move(other.segments_);
    keepalive_ = std::move(other.keepalive_);
  }
  return *this;
}

ReadHandle::~ReadHandle() { Close(); }

void ReadHandle::Close() {
  if (owner_) owner_->ReleaseRead(id_);
  owner_ = nullptr;
  segments_.clear();
  keepalive_.reset();
}

uint64_t ReadHandle::size_bytes() const {
  uint64_t n = 0;
  for (const auto& s : segments_) n += s.size();
  return n;
}

Status ReadHandle::CopyRuns(std::span<const ByteRun> runs, std::span<std::byte> out) const {
  if (!open()) return Status::InvalidArgument("read from a closed ReadHandle");
  return GatherRuns(segments_, runs, out);
}

// ---- Default batch forms: one call per item. Remote stores override them with one round trip.

BatchStatus Store::PutBatch(const NamespaceId& ns, std::span<const PutItem> items) {
  BatchStatus out;
  out.items.reserve(items.size());
  for (const PutItem& item : items) out.items.push_back(Put(ns, item.ref, item.data));
  return out;
}

BatchStatus Store::GetBatch(const NamespaceId& ns, std::span<const GetItem> items) {
  BatchStatus out;
  out.items.reserve(items.size());
  for (const GetItem& item : items) out.items.push_back(Get(ns, item.key, item.out, item.slice));
  return out;
}

}  // namespace tw
