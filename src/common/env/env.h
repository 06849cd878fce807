// Env: the file and I/O seam. Everything the disk tier does to a file goes through here, so tests
// can swap in a fault-injecting env (fault_env.h) and the tier never calls the OS directly.
//
// I/O is batched: File::Submit runs a list of positioned reads and writes with up to `depth` in
// flight (io_uring on Linux, pread/pwrite where io_uring is unavailable). Files opened with
// direct=true use O_DIRECT where the filesystem supports it (not tmpfs): buffers, offsets and lengths
// must then be 4 KiB aligned, which the disk format guarantees.
//
// Thread-safety: Env is thread-safe. A File may be used by several threads at once (positioned I/O
// only; each thread submits through its own io_uring).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tw/result.h"
#include "tw/status.h"

namespace tw {

inline constexpr uint64_t kIoAlign = 4096;
inline constexpr uint64_t AlignUp(uint64_t n, uint64_t a = kIoAlign) { return (n + a - 1) / a * a; }

struct IoOp {
  enum class Kind : uint8_t { kRead, kWrite };
  Kind kind = Kind::kRead;
  uint64_t offset = 0;
  std::byte* data = nullptr;
  uint64_t length = 0;
  // A gather/scatter op (writev/readv): when not empty, the op moves these pieces, in order, to or
  // from `length` contiguous file bytes, and `data` is unused. One device I/O instead of one per
  // piece (a record header in one buffer, its payload in another). With O_DIRECT every piece must
  // be 4 KiB-aligned and a whole number of blocks. The pieces must stay valid until the op completes.
  std::span<const std::span<std::byte>> pieces = {};
};

class File {
 public:
  virtual ~File() = default;
  // Runs every op, at most `depth` in flight, and waits for all of them. Returns the first failure:
  // kResourceExhausted for ENOSPC/EDQUOT, kIOError for anything else (including a read past EOF).
  // On failure some ops may have completed; callers treat the whole batch as failed.
  // `on_done(i)`, if given, runs on the calling thread as soon as op i has fully completed, while
  // later ops are still in flight: callers overlap work (checksumming what has arrived) with I/O.
  using OnDone = std::function<void(size_t)>;
  virtual Status Submit(std::span<const IoOp> ops, uint32_t depth, const OnDone& on_done) = 0;
  Status Submit(std::span<const IoOp> ops, uint32_t depth) { return Submit(ops, depth, nullptr); }
  // An open-ended Submit: pulls ops from `next` (false: none for now) whenever fewer than `depth` are
  // in flight, and asks again after each completion, so a producer can keep the device busy without
  // waiting for a batch to drain. Returns once `next` has nothing and nothing is in flight.
  // on_done(i) names ops in the order they were pulled.
  using NextOp = std::function<bool(IoOp*)>;
  virtual Status Stream(uint32_t depth, const NextOp& next, const OnDone& on_done) = 0;
  // fdatasync.
  virtual Status Sync() = 0;
  virtual Result<uint64_t> Size() = 0;
  // Reserves `size_bytes` on disk (fallocate, falling back to ftruncate where unsupported).
  virtual Status Preallocate(uint64_t size_bytes) = 0;
  // True if I/O bypasses the page cache (O_DIRECT was accepted).
  virtual bool direct() const = 0;
  virtual const std::string& path() const = 0;

  // Convenience single-op forms.
  Status ReadAt(uint64_t offset, std::span<std::byte> out) {
    IoOp op{IoOp::Kind::kRead, offset, out.data(), out.size()};
    return Submit({&op, 1}, 1);
  }
  Status WriteAt(uint64_t offset, std::span<std::byte> data) {
    IoOp op{IoOp::Kind::kWrite, offset, data.data(), data.size()};
    return Submit({&op, 1}, 1);
  }
};

// Held while alive; released on destruction (and by the kernel if the process dies).
class FileLock {
 public:
  virtual ~FileLock() = default;
};

struct FileOptions {
  bool create = false;     // create if missing
  bool read_only = false;
  bool direct = true;      // O_DIRECT where supported
};

class Env {
 public:
  virtual ~Env() = default;
  // kNotFound if the file does not exist (and create is false); kIOError otherwise.
  virtual Result<std::unique_ptr<File>> Open(const std::string& path, const FileOptions& options) = 0;
  // Names (not paths) of the entries of `dir`, without "." and "..".
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  virtual Status CreateDirs(const std::string& dir) = 0;
  // kNotFound if absent.
  virtual Status Delete(const std::string& path) = 0;
  // An exclusive advisory lock on `path` (created if missing). kUnavailable if another process holds it.
  virtual Result<std::unique_ptr<FileLock>> Lock(const std::string& path) = 0;

  // Registers `memory` with the calling thread's I/O ring (io_uring fixed buffers), so I/O from it
  // skips pinning pages on every request. One region per thread; a new call replaces the old.
  // Best effort: kNotSupported where the ring or the memlock limit does not allow it, and I/O works
  // the same either way. The memory must outlive the thread's I/O or a later registration.
  virtual Status RegisterIoMemory(std::span<std::byte> memory) { return Status::NotSupported("no fixed buffers"); }

  // The process-wide POSIX env. Never destroyed.
  static Env* Posix();
};

// An aligned heap buffer for direct I/O (mmap-backed, so large ones start zeroed and page aligned).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // `huge`: ask for transparent huge pages (fewer pages to pin per direct I/O).
  explicit AlignedBuffer(uint64_t size_bytes, bool huge = false);
  ~AlignedBuffer();
  AlignedBuffer(AlignedBuffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr, o.size_ = 0; }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  std::byte* data() const { return data_; }
  uint64_t size() const { return size_; }
  std::span<std::byte> span() const { return {data_, size_}; }
  explicit operator bool() const { return data_ != nullptr; }

 private:
  std::byte* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace tw
