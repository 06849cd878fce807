// tokenwarehouse._native GPU objects: arena registration, GpuMover (loads and stores between the
// warehouse and CUDA tensors), and the pinned-bandwidth probe. Tensors arrive as raw device pointers
// (tokenwarehouse/gpu.py reads them off torch tensors), so no CUDA or torch header is needed here.
// Built without CUDA, the same names exist and raise UnavailableError.
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "binding/buffers.h"
#include "binding/store_binding.h"
#include "client/remote_store.h"
#ifdef TW_HAVE_GPU
#include "tw/gpu.h"
#endif

namespace tw::py {
namespace {

// What register_arena can register: an embedded store's arena, or a unix:// daemon's arena as this
// process maps it (client::RemoteStore::CurrentArena). The checks run in this order in every build,
// so a machine without a GPU still tells a store without shared memory and a gone daemon apart.
struct ArenaTarget {
  std::byte* base = nullptr;
  uint64_t size_bytes = 0;
  uint64_t arena_id = 0;                   // the daemon's arena id; 0 for an embedded store
  std::shared_ptr<const void> mapping;     // keeps a daemon's mapping alive; null for an embedded store
};

Result<ArenaTarget> FindArena(PyStore& s) {
  if (EmbeddedStore* e = s.embedded()) {
    ArenaInfo a = e->arena();
    return ArenaTarget{static_cast<std::byte*>(a.base), a.size_bytes, 0, nullptr};
  }
  auto* r = dynamic_cast<client::RemoteStore*>(s.store.get());
  if (r == nullptr) return Status::NotSupported("only an embedded store's or a unix:// daemon's arena can be registered");
  if (!r->shared_memory()) {
    return Status::NotSupported("this store reaches its daemon without shared memory (tw://, tws://, or refused): "
                                "the GPU path needs an embedded store or a unix:// daemon");
  }
  Result<std::shared_ptr<const client::ShmArena>> a = r->CurrentArena();
  if (!a.ok()) return Status(a.status().code(), "the daemon is gone, cannot map its arena: " + std::string(a.status().message()));
  if (*a == nullptr) return Status::NotSupported("the daemon (restarted?) no longer shares its arena with this client");
  return ArenaTarget{(*a)->base, (*a)->size_bytes, (*a)->id, *a};
}

}  // namespace

#ifdef TW_HAVE_GPU
namespace {

// One mapping registered with CUDA. Members destroy in reverse: the registration ends before the
// mapping it covers is unmapped. Loads and store jobs hold the pin they used, so a daemon's restart
// (a new pin replaces the old one in PyStore) never unregisters memory under a running copy.
struct ArenaPin {
  ArenaTarget target;
  std::unique_ptr<gpu::HostRegistration> registration;
  bool Contains(const std::byte* p, size_t n) const {
    return p >= target.base && n <= target.size_bytes && p - target.base <= static_cast<ptrdiff_t>(target.size_bytes - n);
  }
  bool Covers(const gpu::HostSegments& segs) const {
    for (const auto& sp : segs) {
      if (!Contains(sp.data(), sp.size())) return false;
    }
    return true;
  }
};

std::mutex pin_mu;  // guards every PyStore::gpu_registration (a std::shared_ptr<ArenaPin>) below

std::shared_ptr<ArenaPin> CurrentPin(PyStore& s) {
  std::lock_guard<std::mutex> lock(pin_mu);
  return std::static_pointer_cast<ArenaPin>(s.gpu_registration);
}

bool IsDaemonStore(const PyStore& s) { return dynamic_cast<client::RemoteStore*>(s.store.get()) != nullptr; }

// Registers the store's current arena unless its pin already covers it (one cudaHostRegister per
// mapping per process: seconds for tens of GB). Blocking; call without the GIL.
Result<std::shared_ptr<ArenaPin>> PinArena(PyStore& s) {
  TW_ASSIGN_OR_RETURN(ArenaTarget t, FindArena(s));
  if (auto cur = CurrentPin(s); cur && cur->target.base == t.base && cur->target.arena_id == t.arena_id) return cur;
  TW_RETURN_IF_ERROR(gpu::Available());
  auto pin = std::make_shared<ArenaPin>();
  pin->target = std::move(t);
  TW_ASSIGN_OR_RETURN(pin->registration, gpu::HostRegistration::Register(pin->target.base, pin->target.size_bytes));
  std::lock_guard<std::mutex> lock(pin_mu);
  auto cur = std::static_pointer_cast<ArenaPin>(s.gpu_registration);
  if (cur && cur->target.base == pin->target.base && cur->target.arena_id == pin->target.arena_id) return cur;
  s.gpu_registration = pin;
  return pin;
}

// The pin covering `segs` for a daemon's store: the current one, or, after the daemon restarted (the
// handles point into a new mapping), a new registration. kUnavailable if nothing registered covers them.
Result<std::shared_ptr<ArenaPin>> PinFor(PyStore& s, const std::vector<gpu::HostSegments>& segs) {
  auto covers = [&](const std::shared_ptr<ArenaPin>& p) {
    if (!p) return false;
    for (const auto& o : segs) {
      if (!p->Covers(o)) return false;
    }
    return true;
  };
  if (auto cur = CurrentPin(s); covers(cur)) return cur;
  TW_ASSIGN_OR_RETURN(std::shared_ptr<ArenaPin> pin, PinArena(s));
  if (!covers(pin)) return Status::Unavailable("the daemon's arena changed during the call (restart?): retry");
  return pin;
}

gpu::EngineKv EngineFromPy(const std::string& layout, const std::vector<uintptr_t>& k, const std::vector<uintptr_t>& v,
                           uint64_t seq_capacity, uint32_t page_tokens, const std::vector<int32_t>& page_table) {
  gpu::EngineKv e;
  if (layout == "hf") {
    e.layout = gpu::EngineLayout::kHf;
  } else if (layout == "paged") {
    e.layout = gpu::EngineLayout::kPaged;
  } else {
    ThrowIfError(Status::InvalidArgument("layout is 'hf' or 'paged'"));
  }
  for (uintptr_t p : k) e.k.push_back(reinterpret_cast<void*>(p));
  for (uintptr_t p : v) e.v.push_back(reinterpret_cast<void*>(p));
  e.seq_capacity = seq_capacity;
  e.page_tokens = page_tokens;
  e.page_table = page_table;
  return e;
}

// A load in flight: holds the leases (ReadHandles) on its objects until synchronize().
// A lease that ends before the copies do lets the daemon reuse the pages under them: the KV in GPU
// memory could be torn. The client cannot see the daemon's clock, but the daemon starts every lease
// after the request was sent, so a load that completes before `deadline_` (taken before the first
// request, lease_ms ahead) ran under its leases; one that does not is reported as a miss.
class GpuLoad {
 public:
  GpuLoad(std::shared_ptr<PyStore> store, std::shared_ptr<gpu::KvMover> mover, std::vector<ReadHandle> handles,
          std::shared_ptr<ArenaPin> pin, std::chrono::steady_clock::time_point deadline)
      : store_(std::move(store)), mover_(std::move(mover)), handles_(std::move(handles)), pin_(std::move(pin)),
        deadline_(deadline) {}
  ~GpuLoad() {
    if (!handles_.empty()) {
      pyb::gil_scoped_release nogil;
      (void)mover_->SynchronizeLoad();  // never free leased memory under a running copy
    }
  }
  void WaitLayer(uint32_t layer, uintptr_t stream) { ThrowIfError(mover_->StreamWaitLayer(layer, stream)); }
  bool LayerReady(uint32_t layer) { return mover_->LayerReady(layer); }
  // Raises DeadlineExceededError (a miss: recompute) if a lease may have ended before the copies.
  void Synchronize() {
    Status s;
    {
      pyb::gil_scoped_release nogil;
      s = mover_->SynchronizeLoad();
    }
    const bool had = !handles_.empty();
    handles_.clear();
    ThrowIfError(s);
    if (had && std::chrono::steady_clock::now() >= deadline_) {
      ThrowIfError(Status::DeadlineExceeded("the load outlived its lease: the KV may be torn; treat it as a miss"));
    }
  }
  float LoadMs() {
    auto r = mover_->LastLoadMs();
    ThrowIfError(r.status());
    return r.value();
  }

 private:
  std::shared_ptr<PyStore> store_;
  std::shared_ptr<gpu::KvMover> mover_;
  std::vector<ReadHandle> handles_;
  std::shared_ptr<ArenaPin> pin_;  // a daemon's arena registration, alive until the copies are done
  std::chrono::steady_clock::time_point deadline_;
};

// A store of blocks from GPU tensors, run on a background thread: for each block in chain order,
// reserve (its parent is present by then), copy on the mover's store stream, wait, commit. So no
// block is visible before its bytes are, and the engine's thread never waits.
class GpuStoreJob {
 public:
  GpuStoreJob(std::shared_ptr<PyStore> store, std::shared_ptr<gpu::KvMover> mover, NamespaceId ns,
              std::vector<BlockKey> keys, BlockKey parent, gpu::EngineKv src, uint64_t first_block, pyb::object keepalive)
      : store_(std::move(store)), mover_(std::move(mover)), keepalive_(std::move(keepalive)) {
    worker_ = std::thread([this, ns, keys = std::move(keys), parent, src = std::move(src), first_block] {
      BlockKey prev = parent;
      for (size_t i = 0; i < keys.size() && status_.ok(); ++i) {
        auto h = store_->store->Reserve(ns, {keys[i], prev});
        if (!h.ok()) {
          status_ = h.status();
          break;
        }
        WriteHandle w = std::move(h).value();
        if (!w.segments().empty()) {  // empty: already present, the commit is a no-op
          if (IsDaemonStore(*store_)) {  // reserved pages of the daemon's arena: registered (again after a restart)?
            std::vector<gpu::HostSegments> ro{gpu::HostSegments(w.segments().begin(), w.segments().end())};
            Result<std::shared_ptr<ArenaPin>> pin = PinFor(*store_, ro);
            if (!pin.ok()) {
              status_ = pin.status();
              break;
            }
            if (pins_.empty() || pins_.back() != *pin) pins_.push_back(*pin);
          }
          std::vector<gpu::MutableHostSegments> objs{w.segments()};
          status_ = mover_->Store(src, first_block + i, objs);
          if (status_.ok()) status_ = mover_->SynchronizeStore();
          if (!status_.ok()) break;  // the handle's destructor aborts the write
          ++stored_;
        }
        status_ = store_->store->Commit(w);
        prev = keys[i];
      }
      done_.store(true, std::memory_order_release);
    });
  }
  ~GpuStoreJob() {
    if (worker_.joinable()) {
      pyb::gil_scoped_release nogil;
      worker_.join();
    }
  }
  bool done() const { return done_.load(std::memory_order_acquire); }
  size_t Wait() {
    if (worker_.joinable()) {
      pyb::gil_scoped_release nogil;
      worker_.join();
    }
    ThrowIfError(status_);
    return stored_;
  }

 private:
  std::shared_ptr<PyStore> store_;
  std::shared_ptr<gpu::KvMover> mover_;
  pyb::object keepalive_;  // the engine tensors, alive until the copies are done
  std::vector<std::shared_ptr<ArenaPin>> pins_;  // the registrations its copies wrote through
  Status status_;
  size_t stored_ = 0;
  std::atomic<bool> done_{false};
  std::thread worker_;
};

class GpuMover {
 public:
  GpuMover(std::shared_ptr<PyStore> store, std::shared_ptr<PyNamespace> ns, int device, const std::string& mode,
           uint64_t staging_bytes)
      : store_(std::move(store)), ns_(std::move(ns)) {
    gpu::MoverOptions o;
    o.device = device;
    if (mode == "zero_copy") {
      o.mode = gpu::LoadMode::kZeroCopy;
    } else if (mode == "staged") {
      o.mode = gpu::LoadMode::kStaged;
    } else {
      ThrowIfError(Status::InvalidArgument("mode is 'zero_copy' or 'staged'"));
    }
    o.staging_bytes = staging_bytes;
    o.codec = ns_->nspace.codec;  // a coded namespace's objects are decoded and encoded on the GPU
    auto m = gpu::KvMover::Create(ns_->nspace.geometry, o);
    ThrowIfError(m.status());
    mover_ = std::shared_ptr<gpu::KvMover>(std::move(m).value());
  }

  // Acquires every key (None if any is missing), then queues the load; returns at once.
  pyb::object Load(pyb::handle keys, uint64_t tokens, const std::string& layout, const std::vector<uintptr_t>& k,
                   const std::vector<uintptr_t>& v, uint64_t seq_capacity, uint32_t page_tokens,
                   const std::vector<int32_t>& page_table, uint64_t lease_ms) {
    std::vector<BlockKey> ks = KeysFromPy(keys);
    gpu::EngineKv e = EngineFromPy(layout, k, v, seq_capacity, page_tokens, page_table);
    std::vector<ReadHandle> handles;
    std::shared_ptr<ArenaPin> pin;
    const bool daemon = IsDaemonStore(*store_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(lease_ms);
    Status st;
    {
      pyb::gil_scoped_release nogil;
      std::vector<gpu::HostSegments> segs;
      if (daemon && !CurrentPin(*store_)) {  // first GPU use: register the daemon's arena mapping
        Result<std::shared_ptr<ArenaPin>> p = PinArena(*store_);
        st = p.status();
        if (p.ok()) pin = *p;
      }
      handles.reserve(ks.size());
      // One batch: blocks only on disk are promoted with their reads in flight together, and a
      // daemon answers in one round trip per max_batch keys (not one per block).
      if (st.ok()) {
        std::vector<Result<ReadHandle>> got = store_->store->AcquireBatch(ns_->id, ks, lease_ms);
        for (Result<ReadHandle>& h : got) {
          if (!h.ok()) {
            st = h.status();
            break;
          }
          segs.push_back(h->segments());
          handles.push_back(std::move(h).value());
        }
      }
      if (st.ok() && daemon) {  // the daemon may have restarted since: its new arena, registered
        Result<std::shared_ptr<ArenaPin>> p = PinFor(*store_, segs);
        st = p.status();
        if (p.ok()) pin = *p;
      }
      if (st.ok()) st = mover_->Load(segs, tokens, e);
    }
    if (st.IsNotFound()) return pyb::none();
    ThrowIfError(st);
    return pyb::cast(std::make_unique<GpuLoad>(store_, mover_, std::move(handles), std::move(pin), deadline));
  }

  std::unique_ptr<GpuStoreJob> StoreBlocks(pyb::handle keys, pyb::handle parent, uint64_t first_block,
                                           const std::string& layout, const std::vector<uintptr_t>& k,
                                           const std::vector<uintptr_t>& v, uint64_t seq_capacity, uint32_t page_tokens,
                                           const std::vector<int32_t>& page_table, uintptr_t stream,
                                           pyb::object keepalive) {
    if (IsDaemonStore(*store_) && !CurrentPin(*store_)) {  // first GPU use: register the daemon's arena mapping
      Result<std::shared_ptr<ArenaPin>> p = Status::Internal("unset");
      {
        pyb::gil_scoped_release nogil;
        p = PinArena(*store_);
      }
      ThrowIfError(p.status());
    } else if (!IsDaemonStore(*store_) && !CurrentPin(*store_)) {
      ThrowIfError(Status::InvalidArgument("register the arena with the GPU first (register_arena)"));
    }
    std::vector<BlockKey> ks = KeysFromPy(keys);
    BlockKey p = parent.is_none() ? ns_->root : KeyFromPy(parent);
    gpu::EngineKv e = EngineFromPy(layout, k, v, seq_capacity, page_tokens, page_table);
    ThrowIfError(mover_->MarkStoreInput(stream));
    return std::make_unique<GpuStoreJob>(store_, mover_, ns_->id, std::move(ks), p, std::move(e), first_block,
                                         std::move(keepalive));
  }

 private:
  std::shared_ptr<PyStore> store_;
  std::shared_ptr<PyNamespace> ns_;
  std::shared_ptr<gpu::KvMover> mover_;
};

}  // namespace

void BindGpu(pyb::module_& m) {
  m.attr("HAVE_GPU_BUILD") = true;
  m.def("gpu_available", [] {
    Status s = gpu::Available();
    return pyb::make_tuple(s.ok(), std::string(s.message()));
  });
  m.def("register_arena", [](std::shared_ptr<PyStore> s) {
    Result<std::shared_ptr<ArenaPin>> r = Status::Internal("unset");
    {
      pyb::gil_scoped_release nogil;
      r = PinArena(*s);
    }
    ThrowIfError(r.status());
  }, "Pins the store's DRAM arena (an embedded store's, or a unix:// daemon's as mapped here) for the GPU "
     "(once per mapping; seconds for tens of GB).");
  m.def("measure_h2d_bandwidth", [](uint64_t bytes, int repeats, int device) {
    Result<double> r = Status::Internal("unset");
    {
      pyb::gil_scoped_release nogil;
      r = gpu::MeasureH2dBandwidth(bytes, repeats, device);
    }
    ThrowIfError(r.status());
    return r.value();
  }, pyb::arg("bytes") = 1ull << 30, pyb::arg("repeats") = 5, pyb::arg("device") = 0,
     "Median pinned host-to-device copy bandwidth in GB/s (1e9 bytes/s).");

  pyb::class_<GpuLoad>(m, "GpuLoad", "A load in flight; synchronize() waits and ends the leases.")
      .def("wait_layer", &GpuLoad::WaitLayer, pyb::arg("layer"), pyb::arg("stream"))
      .def("layer_ready", &GpuLoad::LayerReady, pyb::arg("layer"))
      .def("synchronize", &GpuLoad::Synchronize)
      .def("load_ms", &GpuLoad::LoadMs);
  pyb::class_<GpuStoreJob>(m, "GpuStoreJob", "A store from GPU in flight; wait() returns the blocks written.")
      .def("done", &GpuStoreJob::done)
      .def("wait", &GpuStoreJob::Wait);
  pyb::class_<GpuMover>(m, "GpuMover")
      .def(pyb::init<std::shared_ptr<PyStore>, std::shared_ptr<PyNamespace>, int, const std::string&, uint64_t>(),
           pyb::arg("store"), pyb::arg("ns"), pyb::arg("device") = 0, pyb::arg("mode") = "zero_copy",
           pyb::arg("staging_bytes") = 1ull << 30)
      .def("load", &GpuMover::Load, pyb::arg("keys"), pyb::arg("tokens"), pyb::arg("layout"), pyb::arg("k"),
           pyb::arg("v"), pyb::arg("seq_capacity") = 0, pyb::arg("page_tokens") = 0,
           pyb::arg("page_table") = std::vector<int32_t>{}, pyb::arg("lease_ms") = 60000)
      .def("store", &GpuMover::StoreBlocks, pyb::arg("keys"), pyb::arg("parent"), pyb::arg("first_block"),
           pyb::arg("layout"), pyb::arg("k"), pyb::arg("v"), pyb::arg("seq_capacity") = 0, pyb::arg("page_tokens") = 0,
           pyb::arg("page_table") = std::vector<int32_t>{}, pyb::arg("stream") = 0, pyb::arg("keepalive") = pyb::none());
}

#else  // no CUDA in this build

void BindGpu(pyb::module_& m) {
  m.attr("HAVE_GPU_BUILD") = false;
  m.def("gpu_available", [] { return pyb::make_tuple(false, std::string("built without CUDA")); });
  auto unavailable = [](pyb::args, pyb::kwargs) {
    ThrowIfError(Status::Unavailable("this build of tokenwarehouse has no GPU copy path (CUDA was not found)"));
  };
  m.def("register_arena", [](std::shared_ptr<PyStore> s) {
    {
      Result<ArenaTarget> t = Status::Internal("unset");
      {
        pyb::gil_scoped_release nogil;
        t = FindArena(*s);  // the same errors as a GPU build for stores that cannot be registered
      }
      ThrowIfError(t.status());
    }
    ThrowIfError(Status::Unavailable("this build of tokenwarehouse has no GPU copy path (CUDA was not found)"));
  });
  m.def("measure_h2d_bandwidth", unavailable);
  m.def("GpuMover", unavailable);
}

#endif

}  // namespace tw::py
