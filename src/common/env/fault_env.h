// FaultInjectingEnv: wraps another Env and injects the failures the disk tier must survive:
// EIO and ENOSPC on writes or reads, and bit flips in data read back. Faults are switched on and
// off by tests at any moment; all switches are atomics, so they may be flipped while I/O runs.
#pragma once

#include <atomic>
#include <cstdint>

#include "common/env/env.h"

namespace tw {

class FaultInjectingEnv final : public Env {
 public:
  explicit FaultInjectingEnv(Env* base) : base_(base) {}

  // errno to fail every write (or read) op with; 0 turns the fault off. EIO and ENOSPC are the
  // interesting ones.
  void FailWrites(int err) { write_errno_.store(err); }
  void FailReads(int err) { read_errno_.store(err); }
  // Flips one bit in the payload of each of the next `n` read batches that carry more than one
  // block (the bit lands in the largest op, past its first 4 KiB when it has more).
  void FlipBitsInNextReads(int n) { flips_left_.store(n); }
  uint64_t faults_injected() const { return injected_.load(); }

  Result<std::unique_ptr<File>> Open(const std::string& path, const FileOptions& options) override;
  Result<std::vector<std::string>> ListDir(const std::string& dir) override { return base_->ListDir(dir); }
  Status CreateDirs(const std::string& dir) override { return base_->CreateDirs(dir); }
  Status Delete(const std::string& path) override { return base_->Delete(path); }
  Result<std::unique_ptr<FileLock>> Lock(const std::string& path) override { return base_->Lock(path); }
  Status RegisterIoMemory(std::span<std::byte> memory) override { return base_->RegisterIoMemory(memory); }

 private:
  friend class FaultFile;
  Env* base_;
  std::atomic<int> write_errno_{0}, read_errno_{0}, flips_left_{0};
  std::atomic<uint64_t> injected_{0};
};

// Maps an errno from a failed I/O to the project's Status codes (ENOSPC/EDQUOT: kResourceExhausted).
Status IoErrnoStatus(int err, const std::string& what);

}  // namespace tw
