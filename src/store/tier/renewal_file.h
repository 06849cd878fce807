// RenewalFile: where the disk tier keeps the renewed deadlines of sliding-retention objects, so a
// hit's renewal survives a restart without a write per hit (docs/formats.md, "Renewal file").
//
// Records are immutable (their headers carry the deadline set at their store), so a renewal lives
// in memory (the index entry) and is saved here in batches: the whole set of renewed, unexpired
// deadlines, every disk_renewal_flush_ms while renewals happen and when the tier closes. Two slot
// files, `<owner>.renewals.0` and `.1`, are written alternately, each whole and synced, with a
// generation number: a crash mid-write tears only the slot being written, and Load takes the valid
// slot of the highest generation. A slot that fails its checksums is ignored: its objects then
// expire at their records' deadlines, which are earlier (when in doubt, miss).
//
// Not thread-safe: the disk tier calls Save from its writer thread (or its destructor) only, and
// Load at open, before that thread starts.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/env/env.h"
#include "tw/block_key.h"
#include "tw/status.h"

namespace tw {

struct Renewal {
  NamespaceId ns;
  BlockKey key;
  uint64_t expires_wall_ms = 0;  // wall-clock ms since the Unix epoch
};

class RenewalFile {
 public:
  RenewalFile(Env* env, const std::string& dir, const std::string& owner);

  // The renewals of the newest valid slot; empty if there is none.
  std::vector<Renewal> Load();
  // Replaces the saved set by `renewals`: writes the older slot and syncs it.
  Status Save(std::span<const Renewal> renewals);

  std::string SlotPath(int slot) const;

 private:
  Env* env_;
  std::string dir_, owner_;
  uint64_t generation_ = 0;  // of the newest slot loaded or saved
};

// The byte image of one slot (exposed for tests of the format).
std::vector<uint8_t> EncodeRenewals(uint64_t generation, std::span<const Renewal> renewals);
// kCorruption if the magic, a checksum or the size is wrong; kNotSupported for another version.
Status DecodeRenewals(std::span<const uint8_t> bytes, uint64_t* generation, std::vector<Renewal>* out);

}  // namespace tw
