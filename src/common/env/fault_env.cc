#include "common/env/fault_env.h"

#include <cerrno>

namespace tw {

class FaultFile final : public File {
 public:
  FaultFile(FaultInjectingEnv* env, std::unique_ptr<File> base) : env_(env), base_(std::move(base)) {}

  Status Submit(std::span<const IoOp> ops, uint32_t depth, const OnDone& on_done) override {
    bool writes = false, reads = false;
    for (const IoOp& op : ops) (op.kind == IoOp::Kind::kWrite ? writes : reads) = true;
    for (const IoOp& op : ops) {
      if (op.kind == IoOp::Kind::kWrite) env_->Log({base_->path(), false, op.offset, op.length});
    }
    if (int err = env_->write_errno_.load(); err && writes) {
      env_->injected_.fetch_add(1);
      return IoErrnoStatus(err, "injected write fault on " + base_->path());
    }
    if (int err = env_->read_errno_.load(); err && reads) {
      env_->injected_.fetch_add(1);
      return IoErrnoStatus(err, "injected read fault on " + base_->path());
    }
    if (reads) env_->SlowRead();
    // A bit flip lands in the largest op of an object's read (several ops, a scatter read, or one op
    // longer than a block: never a lone region header or trailer), as soon as that op completes
    // (before the caller's on_done sees it), so it looks exactly like a flip on the medium. A
    // scatter read whose buffers happen to be adjacent in memory arrives as one plain op.
    size_t victim = ops.size();
    if (reads && !writes && (ops.size() > 1 || !ops[0].pieces.empty() || ops[0].length > kIoAlign)) {
      int left = env_->flips_left_.load();
      while (left > 0 && !env_->flips_left_.compare_exchange_weak(left, left - 1)) {
      }
      if (left > 0) {
        victim = 0;
        for (size_t i = 0; i < ops.size(); ++i) {
          if (ops[i].length > ops[victim].length) victim = i;
        }
      }
    }
    auto flip = [&](size_t i) {
      if (i != victim) return;
      const IoOp& op = ops[i];
      const uint64_t at = op.length > kIoAlign ? kIoAlign + (op.length - kIoAlign) / 2 : op.length / 2;
      std::byte* b = op.pieces.empty() ? op.data + at : nullptr;
      uint64_t left = at;  // a scatter read: find the piece holding byte `at`
      for (const auto& p : op.pieces) {
        if (left < p.size()) {
          b = p.data() + left;
          break;
        }
        left -= p.size();
      }
      if (!b) return;
      *b ^= std::byte{0x10};
      env_->injected_.fetch_add(1);
    };
    if (victim == ops.size()) return base_->Submit(ops, depth, on_done);
    return base_->Submit(ops, depth, [&](size_t i) {
      flip(i);
      if (on_done) on_done(i);
    });
  }
  Status Stream(uint32_t depth, const NextOp& next, const OnDone& on_done) override {
    bool failed = false;
    bool delayed = false;
    Status injected;
    // Faults apply per pulled op, as in Submit: the first write (or read) under a fault fails the stream.
    Status s = base_->Stream(depth, [&](IoOp* op) {
      if (failed || !next(op)) return false;
      if (op->kind == IoOp::Kind::kWrite) env_->Log({base_->path(), false, op->offset, op->length});
      if (op->kind == IoOp::Kind::kRead && !delayed) {
        delayed = true;
        env_->SlowRead();
      }
      const int err = op->kind == IoOp::Kind::kWrite ? env_->write_errno_.load() : env_->read_errno_.load();
      if (err) {
        env_->injected_.fetch_add(1);
        injected = IoErrnoStatus(err, std::string("injected ") + (op->kind == IoOp::Kind::kWrite ? "write" : "read") +
                                          " fault on " + base_->path());
        failed = true;
        return false;
      }
      return true;
    }, on_done);
    return injected.ok() ? s : injected;
  }

  Status Sync() override {
    if (int err = env_->write_errno_.load()) return IoErrnoStatus(err, "injected sync fault on " + base_->path());
    env_->Log({base_->path(), true, 0, 0});
    return base_->Sync();
  }
  Result<uint64_t> Size() override { return base_->Size(); }
  Status Preallocate(uint64_t size_bytes) override {
    if (int err = env_->write_errno_.load()) {
      env_->injected_.fetch_add(1);
      return IoErrnoStatus(err, "injected fallocate fault on " + base_->path());
    }
    return base_->Preallocate(size_bytes);
  }
  bool direct() const override { return base_->direct(); }
  const std::string& path() const override { return base_->path(); }

 private:
  FaultInjectingEnv* env_;
  std::unique_ptr<File> base_;
};

Result<std::unique_ptr<File>> FaultInjectingEnv::Open(const std::string& path, const FileOptions& options) {
  TW_ASSIGN_OR_RETURN(std::unique_ptr<File> f, base_->Open(path, options));
  return std::unique_ptr<File>(new FaultFile(this, std::move(f)));
}

}  // namespace tw
