// tokenwarehouse._native GPU objects: arena registration, GpuMover (loads and stores between the
// warehouse and CUDA tensors), and the pinned-bandwidth probe. Tensors arrive as raw device pointers
// (tokenwarehouse/gpu.py reads them off torch tensors), so no CUDA or torch header is needed here.
// Built without CUDA, the same names exist and raise UnavailableError.
#include <pybind11/stl.h>

#include <atomic>
#include <thread>

#include "binding/buffers.h"
#include "binding/store_binding.h"
#ifdef TW_HAVE_GPU
#include "tw/gpu.h"
#endif

namespace tw::py {

#ifdef TW_HAVE_GPU
namespace {

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
class GpuLoad {
 public:
  GpuLoad(std::shared_ptr<PyStore> store, std::shared_ptr<gpu::KvMover> mover, std::vector<ReadHandle> handles)
      : store_(std::move(store)), mover_(std::move(mover)), handles_(std::move(handles)) {}
  ~GpuLoad() {
    if (!handles_.empty()) {
      pyb::gil_scoped_release nogil;
      (void)mover_->SynchronizeLoad();  // never free leased memory under a running copy
    }
  }
  void WaitLayer(uint32_t layer, uintptr_t stream) { ThrowIfError(mover_->StreamWaitLayer(layer, stream)); }
  bool LayerReady(uint32_t layer) { return mover_->LayerReady(layer); }
  void Synchronize() {
    Status s;
    {
      pyb::gil_scoped_release nogil;
      s = mover_->SynchronizeLoad();
    }
    handles_.clear();
    ThrowIfError(s);
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
    Status st;
    {
      pyb::gil_scoped_release nogil;
      std::vector<gpu::HostSegments> segs;
      handles.reserve(ks.size());
      for (const BlockKey& key : ks) {
        auto h = store_->store->Acquire(ns_->id, key, lease_ms);
        if (!h.ok()) {
          st = h.status();
          break;
        }
        segs.push_back(h->segments());
        handles.push_back(std::move(h).value());
      }
      if (st.ok()) st = mover_->Load(segs, tokens, e);
    }
    if (st.IsNotFound()) return pyb::none();
    ThrowIfError(st);
    return pyb::cast(std::make_unique<GpuLoad>(store_, mover_, std::move(handles)));
  }

  std::unique_ptr<GpuStoreJob> StoreBlocks(pyb::handle keys, pyb::handle parent, uint64_t first_block,
                                           const std::string& layout, const std::vector<uintptr_t>& k,
                                           const std::vector<uintptr_t>& v, uint64_t seq_capacity, uint32_t page_tokens,
                                           const std::vector<int32_t>& page_table, uintptr_t stream,
                                           pyb::object keepalive) {
    if (!store_->gpu_registration) {
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
    if (s->gpu_registration) return;
    EmbeddedStore* e = s->embedded();
    if (e == nullptr) ThrowIfError(Status::NotSupported("only an embedded store's arena can be registered"));
    ArenaInfo a = e->arena();
    Result<std::unique_ptr<gpu::HostRegistration>> r = Status::Internal("unset");
    {
      pyb::gil_scoped_release nogil;
      r = gpu::HostRegistration::Register(a.base, a.size_bytes);
    }
    ThrowIfError(r.status());
    s->gpu_registration = std::shared_ptr<gpu::HostRegistration>(std::move(r).value());
  }, "Pins the store's DRAM arena for the GPU (once; seconds for tens of GB).");
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
  m.def("register_arena", unavailable);
  m.def("measure_h2d_bandwidth", unavailable);
  m.def("GpuMover", unavailable);
}

#endif

}  // namespace tw::py
