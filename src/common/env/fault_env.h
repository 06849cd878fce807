// FaultInjectingEnv: wraps another Env and injects the failures the disk tier must survive:
// EIO and ENOSPC on writes or reads, bit flips in data read back, and slow reads. Faults are switched on and
// off by tests at any moment; all switches are atomics, so they may be flipped while I/O runs.
// It can also log every write and sync, in the order they were issued, so a test can check the
// order that crash safety rests on (what reaches the medium before what).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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
  // Makes every read batch (one Submit or Stream carrying reads) wait `ms` before it is issued: a
  // slow or overloaded disk. 0 turns it off.
  void DelayReads(uint64_t ms) { read_delay_ms_.store(ms); }

  // One write op (its file range) or one Sync, as issued by the caller.
  struct LoggedOp {
    std::string path;
    bool sync = false;
    uint64_t offset = 0, length = 0;  // for writes
  };
  // Starts (or stops) logging writes and syncs; TakeLog returns what was logged and clears it.
  void LogWritesAndSyncs(bool on) { logging_.store(on); }
  std::vector<LoggedOp> TakeLog() {
    std::lock_guard<std::mutex> lock(log_mu_);
    return std::move(log_);
  }

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
  std::atomic<uint64_t> read_delay_ms_{0};
  std::atomic<bool> logging_{false};
  std::mutex log_mu_;
  std::vector<LoggedOp> log_;  // GUARDED_BY(log_mu_)

  void SlowRead() {
    if (uint64_t ms = read_delay_ms_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  void Log(LoggedOp op) {
    if (!logging_.load()) return;
    std::lock_guard<std::mutex> lock(log_mu_);
    log_.push_back(std::move(op));
  }
};

// Maps an errno from a failed I/O to the project's Status codes (ENOSPC/EDQUOT: kResourceExhausted).
Status IoErrnoStatus(int err, const std::string& what);

}  // namespace tw
