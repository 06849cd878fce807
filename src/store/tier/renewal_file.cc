#include "store/tier/renewal_file.h"

#include <cstring>

#include "common/little_endian.h"
#include "common/logging.h"
#include "store/tier/region_format.h"

namespace tw {
namespace {

constexpr char kMagic[8] = {'T', 'W', 'R', 'E', 'N', 'E', 'W', 'S'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 64;
constexpr size_t kEntryBytes = 40;

}  // namespace

// Header: magic 0, version 8, reserved 12, generation 16, count 24, entries checksum 32,
// reserved 40..55, header checksum 56 (over bytes 0..55). Entries from 64: ns, key, expires.
std::vector<uint8_t> EncodeRenewals(uint64_t generation, std::span<const Renewal> renewals) {
  std::vector<uint8_t> out(kHeaderBytes + renewals.size() * kEntryBytes, 0);
  uint8_t* e = out.data() + kHeaderBytes;
  for (const Renewal& r : renewals) {
    std::memcpy(e, r.ns.bytes, 16);
    std::memcpy(e + 16, r.key.bytes, 16);
    StoreLE64(e + 32, r.expires_wall_ms);
    e += kEntryBytes;
  }
  std::memcpy(out.data(), kMagic, 8);
  StoreLE32(out.data() + 8, kVersion);
  StoreLE64(out.data() + 16, generation);
  StoreLE64(out.data() + 24, renewals.size());
  StoreLE64(out.data() + 32, PayloadChecksum(out.data() + kHeaderBytes, out.size() - kHeaderBytes));
  StoreLE64(out.data() + 56, PayloadChecksum(out.data(), 56));
  return out;
}

Status DecodeRenewals(std::span<const uint8_t> in, uint64_t* generation, std::vector<Renewal>* out) {
  if (in.size() < kHeaderBytes || std::memcmp(in.data(), kMagic, 8) != 0) return Status::Corruption("renewals: bad magic");
  if (LoadLE64(in.data() + 56) != PayloadChecksum(in.data(), 56)) return Status::Corruption("renewals: bad header checksum");
  if (LoadLE32(in.data() + 8) != kVersion) return Status::NotSupported("renewals: unknown version");
  const uint64_t count = LoadLE64(in.data() + 24);
  if (count > (in.size() - kHeaderBytes) / kEntryBytes) return Status::Corruption("renewals: cut short");
  const uint8_t* e = in.data() + kHeaderBytes;
  if (LoadLE64(in.data() + 32) != PayloadChecksum(e, count * kEntryBytes)) return Status::Corruption("renewals: bad checksum");
  *generation = LoadLE64(in.data() + 16);
  out->clear();
  out->reserve(count);
  for (uint64_t i = 0; i < count; ++i, e += kEntryBytes) {
    Renewal r;
    std::memcpy(r.ns.bytes, e, 16);
    std::memcpy(r.key.bytes, e + 16, 16);
    r.expires_wall_ms = LoadLE64(e + 32);
    out->push_back(r);
  }
  return Status::Ok();
}

RenewalFile::RenewalFile(Env* env, const std::string& dir, const std::string& owner) : env_(env), dir_(dir), owner_(owner) {}

std::string RenewalFile::SlotPath(int slot) const { return dir_ + "/" + owner_ + ".renewals." + std::to_string(slot); }

std::vector<Renewal> RenewalFile::Load() {
  std::vector<Renewal> best;
  bool found = false;
  uint64_t best_generation = 0;
  for (int slot = 0; slot < 2; ++slot) {
    Result<std::unique_ptr<File>> f = env_->Open(SlotPath(slot), FileOptions{.read_only = true, .direct = false});
    if (!f.ok()) continue;  // never written
    Result<uint64_t> size = (*f)->Size();
    if (!size.ok() || *size < kHeaderBytes) continue;
    std::vector<uint8_t> bytes(*size);
    if (!(*f)->ReadAt(0, std::as_writable_bytes(std::span(bytes))).ok()) continue;
    uint64_t generation = 0;
    std::vector<Renewal> got;
    // The file may be longer than its content (a slot rewritten with fewer entries): the header's
    // count says where it ends.
    if (Status s = DecodeRenewals(bytes, &generation, &got); !s.ok()) {
      TW_LOG_WARN("disk tier: {} ignored ({}): its objects expire at their stored deadlines", SlotPath(slot), s.ToString());
      continue;
    }
    if (!found || generation > best_generation) {
      found = true;
      best_generation = generation;
      best = std::move(got);
    }
  }
  // The next Save writes the other slot than the newest valid one (a torn slot is the one reused).
  generation_ = best_generation;
  return best;
}

Status RenewalFile::Save(std::span<const Renewal> renewals) {
  const uint64_t generation = generation_ + 1;
  std::vector<uint8_t> bytes = EncodeRenewals(generation, renewals);
  TW_ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                      env_->Open(SlotPath(static_cast<int>(generation % 2)), FileOptions{.create = true, .direct = false}));
  TW_RETURN_IF_ERROR(f->WriteAt(0, std::as_writable_bytes(std::span(bytes))));
  TW_RETURN_IF_ERROR(f->Sync());
  generation_ = generation;
  return Status::Ok();
}

}  // namespace tw
