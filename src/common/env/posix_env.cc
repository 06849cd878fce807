// The POSIX env: O_DIRECT files driven through io_uring (one ring per thread, created on first use),
// with pread/pwrite as the fallback where io_uring is unavailable (old kernels, seccomp).
#include <dirent.h>
#include <fcntl.h>
#include <liburing.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <deque>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/env/env.h"
#include "common/env/fault_env.h"
#include "common/logging.h"

namespace tw {

Status IoErrnoStatus(int err, const std::string& what) {
  std::string msg = what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return Status::ResourceExhausted(msg);
  if (err == ENOENT) return Status::NotFound(msg);
  return Status::IOError(msg);
}

AlignedBuffer::AlignedBuffer(uint64_t size_bytes, bool huge) {
  if (size_bytes == 0) return;
  const uint64_t n = AlignUp(size_bytes);
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;
  if (huge) madvise(p, n, MADV_HUGEPAGE);  // only a hint: never compaction on the I/O path
  data_ = static_cast<std::byte*>(p);
  size_ = n;
}

AlignedBuffer::~AlignedBuffer() {
  if (data_) munmap(data_, size_);
}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    if (data_) munmap(data_, size_);
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

namespace {

constexpr unsigned kRingEntries = 64;

// One ring per thread: submission queues are not thread-safe, and a per-thread ring needs no lock.
struct ThreadRing {
  io_uring ring;
  bool ok = false;
  pid_t pid = 0;
  std::byte* fixed = nullptr;  // the registered buffer (index 0), if any
  uint64_t fixed_bytes = 0;
  ThreadRing() { Init(); }
  // A forked child inherits the thread's ring, which its parent still uses: sharing one submission
  // queue between two processes mixes their completions. The child drops its copy and makes its own.
  void CheckFork() {
    if (pid == getpid()) return;
    if (ok) io_uring_queue_exit(&ring);
    ok = false;
    fixed = nullptr;
    fixed_bytes = 0;
    Init();
  }
  void Init() {
    pid = getpid();
    static std::atomic<bool> disabled{getenv("TW_NO_IO_URING") != nullptr};
    if (disabled.load()) return;
    int rc = io_uring_queue_init(kRingEntries, &ring, 0);
    ok = rc == 0;
    if (!ok && !disabled.exchange(true)) {
      TW_LOG_WARN("io_uring unavailable ({}); disk I/O falls back to pread/pwrite", std::strerror(-rc));
    }
  }
  ~ThreadRing() {
    if (ok) io_uring_queue_exit(&ring);
  }
};

ThreadRing& Ring() {
  thread_local ThreadRing ring;
  ring.CheckFork();
  return ring;
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path, bool direct) : fd_(fd), path_(std::move(path)), direct_(direct) {}
  ~PosixFile() override { close(fd_); }

  Status Submit(std::span<const IoOp> ops, uint32_t depth, const OnDone& on_done) override {
    if (ops.empty()) return Status::Ok();
    if (!Ring().ok) return SubmitSync(ops, on_done);
    size_t next = 0;
    return Stream(depth, [&](IoOp* op) {
      if (next == ops.size()) return false;
      *op = ops[next++];
      return true;
    }, on_done);
  }

  Status Stream(uint32_t depth, const NextOp& next, const OnDone& on_done) override {
    ThreadRing& tr = Ring();
    if (!tr.ok) {
      IoOp op;
      for (size_t i = 0; next(&op); ++i) TW_RETURN_IF_ERROR(SubmitSync({&op, 1}, [&](size_t) { if (on_done) on_done(i); }));
      return Status::Ok();
    }
    if (depth == 0) depth = 1;
    if (depth > kRingEntries) depth = kRingEntries;
    // pulled[i]: op i as pulled, and bytes of it done so far; a short transfer is resubmitted for
    // the remainder (from `retry`) before anything new is pulled.
    std::vector<std::pair<IoOp, uint64_t>> pulled;
    std::deque<std::vector<iovec>> iovs;  // a gather op's iovecs (the rest of it), alive while in flight
    std::vector<size_t> retry;
    uint32_t inflight = 0;
    bool exhausted = false;
    Status first;
    for (;;) {
      while (first.ok() && inflight < depth) {
        size_t i;
        if (!retry.empty()) {
          i = retry.back();
          retry.pop_back();
        } else {
          IoOp op;
          if (!next(&op)) {
            exhausted = true;
            break;
          }
          exhausted = false;
          i = pulled.size();
          pulled.emplace_back(op, 0);
        }
        io_uring_sqe* sqe = io_uring_get_sqe(&tr.ring);
        if (!sqe) {
          retry.push_back(i);
          break;
        }
        const IoOp& op = pulled[i].first;
        const uint64_t done = pulled[i].second;
        const unsigned len = static_cast<unsigned>(op.length - done);
        if (!op.pieces.empty()) {
          std::vector<iovec>& v = iovs.emplace_back(RemainingIov(op, done));
          if (op.kind == IoOp::Kind::kRead) io_uring_prep_readv(sqe, fd_, v.data(), static_cast<unsigned>(v.size()), op.offset + done);
          else io_uring_prep_writev(sqe, fd_, v.data(), static_cast<unsigned>(v.size()), op.offset + done);
          io_uring_sqe_set_data64(sqe, i);
          ++inflight;
          continue;
        }
        std::byte* at = op.data + done;
        const bool fixed = tr.fixed && at >= tr.fixed && at + len <= tr.fixed + tr.fixed_bytes;
        if (op.kind == IoOp::Kind::kRead) {
          if (fixed) io_uring_prep_read_fixed(sqe, fd_, at, len, op.offset + done, 0);
          else io_uring_prep_read(sqe, fd_, at, len, op.offset + done);
        } else {
          if (fixed) io_uring_prep_write_fixed(sqe, fd_, at, len, op.offset + done, 0);
          else io_uring_prep_write(sqe, fd_, at, len, op.offset + done);
        }
        io_uring_sqe_set_data64(sqe, i);
        ++inflight;
      }
      if (inflight == 0 && (exhausted || !first.ok()) && retry.empty()) break;
      if (inflight == 0 && !first.ok()) break;
      int rc = io_uring_submit_and_wait(&tr.ring, inflight ? 1 : 0);
      if (rc < 0 && rc != -EINTR) return IoErrnoStatus(-rc, "io_uring_submit " + path_);
      io_uring_cqe* cqe;
      unsigned head, seen = 0;
      io_uring_for_each_cqe(&tr.ring, head, cqe) {
        ++seen;
        --inflight;
        const size_t i = static_cast<size_t>(io_uring_cqe_get_data64(cqe));
        auto& [op, done] = pulled[i];
        if (cqe->res < 0) {
          if (first.ok()) first = IoErrnoStatus(-cqe->res, Describe(op));
        } else if (cqe->res == 0) {
          if (first.ok()) first = Status::IOError(Describe(op) + ": unexpected end of file");
        } else {
          done += static_cast<uint64_t>(cqe->res);
          if (done < op.length) retry.push_back(i);
          else if (on_done && first.ok()) on_done(i);
        }
      }
      io_uring_cq_advance(&tr.ring, seen);
      if (!first.ok()) retry.clear();
    }
    return first;
  }

  Status Sync() override {
    if (fdatasync(fd_) != 0) return IoErrnoStatus(errno, "fdatasync " + path_);
    return Status::Ok();
  }

  Result<uint64_t> Size() override {
    struct stat st;
    if (fstat(fd_, &st) != 0) return IoErrnoStatus(errno, "fstat " + path_);
    return static_cast<uint64_t>(st.st_size);
  }

  Status Preallocate(uint64_t size_bytes) override {
    if (fallocate(fd_, 0, 0, static_cast<off_t>(size_bytes)) == 0) return Status::Ok();
    if (errno != EOPNOTSUPP && errno != ENOSYS) return IoErrnoStatus(errno, "fallocate " + path_);
    if (ftruncate(fd_, static_cast<off_t>(size_bytes)) != 0) return IoErrnoStatus(errno, "ftruncate " + path_);
    return Status::Ok();
  }

  bool direct() const override { return direct_; }
  const std::string& path() const override { return path_; }

 private:
  std::string Describe(const IoOp& op) const {
    return std::string(op.kind == IoOp::Kind::kRead ? "read " : "write ") + path_ + " at " + std::to_string(op.offset);
  }

  // The iovecs of `op`'s pieces past its first `done` bytes.
  static std::vector<iovec> RemainingIov(const IoOp& op, uint64_t done) {
    std::vector<iovec> v;
    v.reserve(op.pieces.size());
    for (const auto& p : op.pieces) {
      if (done >= p.size()) {
        done -= p.size();
        continue;
      }
      v.push_back({p.data() + done, p.size() - done});
      done = 0;
    }
    return v;
  }

  Status SubmitSync(std::span<const IoOp> ops, const OnDone& on_done) {
    for (size_t i = 0; i < ops.size(); ++i) {
      const IoOp& op = ops[i];
      uint64_t done = 0;
      while (done < op.length) {
        std::vector<iovec> v;
        if (!op.pieces.empty()) v = RemainingIov(op, done);
        else v.push_back({op.data + done, op.length - done});
        const int count = static_cast<int>(std::min<size_t>(v.size(), IOV_MAX));
        ssize_t n = op.kind == IoOp::Kind::kRead ? preadv(fd_, v.data(), count, static_cast<off_t>(op.offset + done))
                                                 : pwritev(fd_, v.data(), count, static_cast<off_t>(op.offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return IoErrnoStatus(errno, Describe(op));
        if (n == 0) return Status::IOError(Describe(op) + ": unexpected end of file");
        done += static_cast<uint64_t>(n);
      }
      if (on_done) on_done(i);
    }
    return Status::Ok();
  }

  const int fd_;
  const std::string path_;
  const bool direct_;
};

class PosixLock final : public FileLock {
 public:
  explicit PosixLock(int fd) : fd_(fd) {}
  ~PosixLock() override { close(fd_); }  // closing drops the flock

 private:
  int fd_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<File>> Open(const std::string& path, const FileOptions& options) override {
    int flags = O_CLOEXEC | (options.read_only ? O_RDONLY : O_RDWR) | (options.create ? O_CREAT : 0);
    int fd = -1;
    bool direct = false;
    if (options.direct) {
      fd = open(path.c_str(), flags | O_DIRECT, 0644);
      direct = fd >= 0;
      if (fd < 0 && errno != EINVAL) return IoErrnoStatus(errno, "open " + path);
    }
    if (fd < 0) {
      // tmpfs and some network filesystems refuse O_DIRECT: fall back to buffered I/O.
      fd = open(path.c_str(), flags, 0644);
      if (fd < 0) return IoErrnoStatus(errno, "open " + path);
    }
    return std::unique_ptr<File>(new PosixFile(fd, path, direct));
  }

  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = opendir(dir.c_str());
    if (!d) return IoErrnoStatus(errno, "opendir " + dir);
    std::vector<std::string> names;
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    closedir(d);
    return names;
  }

  Status CreateDirs(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError("create " + dir + ": " + ec.message());
    return Status::Ok();
  }

  Status Delete(const std::string& path) override {
    if (unlink(path.c_str()) != 0) return IoErrnoStatus(errno, "unlink " + path);
    return Status::Ok();
  }

  Status RegisterIoMemory(std::span<std::byte> memory) override {
    ThreadRing& tr = Ring();
    if (!tr.ok) return Status::NotSupported("io_uring unavailable");
    if (tr.fixed) io_uring_unregister_buffers(&tr.ring);
    tr.fixed = nullptr;
    tr.fixed_bytes = 0;
    if (memory.empty()) return Status::Ok();
    iovec iov{memory.data(), memory.size()};
    int rc = io_uring_register_buffers(&tr.ring, &iov, 1);
    if (rc < 0) return Status::NotSupported(std::string("io_uring_register_buffers: ") + std::strerror(-rc));
    tr.fixed = memory.data();
    tr.fixed_bytes = memory.size();
    return Status::Ok();
  }

  Result<std::unique_ptr<FileLock>> Lock(const std::string& path) override {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return IoErrnoStatus(errno, "open " + path);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      close(fd);
      if (err == EWOULDBLOCK) return Status::Unavailable(path + " is locked by another process");
      return IoErrnoStatus(err, "flock " + path);
    }
    return std::unique_ptr<FileLock>(new PosixLock(fd));
  }
};

}  // namespace

Env* Env::Posix() {
  static PosixEnv* env = new PosixEnv();
  return env;
}

}  // namespace tw
