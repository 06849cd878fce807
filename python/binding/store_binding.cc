// tokenwarehouse._native: Store, Namespace, ReadHandle, WriteHandle and async loads over tw::Store.
//
// The GIL is released around every copy and lookup, so engine threads overlap warehouse work with
// Python. Misses are None / False, never exceptions; every other failure raises the exception class
// of its status code (errors.py).
#include "binding/store_binding.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "binding/buffers.h"
#include "common/stored_slice.h"
#include "tw/codec.h"
#include "tw/open.h"

namespace tw::py {

BlockKey KeyFromPy(pyb::handle h) {
  if (!PyBytes_Check(h.ptr())) throw pyb::type_error("a block key is a bytes object of 16 bytes");
  char* data = nullptr;
  Py_ssize_t len = 0;
  PyBytes_AsStringAndSize(h.ptr(), &data, &len);
  if (len != 16) throw pyb::value_error("a block key is 16 bytes, got " + std::to_string(len));
  BlockKey k;
  std::memcpy(k.bytes, data, 16);
  return k;
}

std::vector<BlockKey> KeysFromPy(pyb::handle seq) {
  std::vector<BlockKey> keys;
  for (pyb::handle h : seq) keys.push_back(KeyFromPy(h));
  return keys;
}

pyb::bytes KeyToPy(const BlockKey& k) { return pyb::bytes(reinterpret_cast<const char*>(k.bytes), 16); }

namespace {

// Bytes of `slice` of one stored object: the whole encoded object for a namespace with a codec.
uint64_t StoredBytes(const PyNamespace& n, const KvSlice& slice) {
  return StoredSliceBytes(n.nspace.geometry, n.nspace.codec != KvCodec::kNone, n.nspace.ObjectBytes(), slice);
}

KvSlice SliceFromPy(const pyb::object& layers, const pyb::object& heads) {
  KvSlice s;
  if (!layers.is_none()) {
    auto t = layers.cast<std::pair<uint32_t, uint32_t>>();
    s.layer_begin = t.first;
    s.layer_end = t.second;
  }
  if (!heads.is_none()) {
    auto t = heads.cast<std::pair<uint32_t, uint32_t>>();
    s.head_begin = t.first;
    s.head_end = t.second;
  }
  return s;
}

// Tokens from a buffer of 4- or 8-byte integers (numpy, array.array) or any sequence of ints.
std::vector<uint32_t> TokensFromPy(pyb::handle obj) {
  std::vector<uint32_t> out;
  if (PyObject_CheckBuffer(obj.ptr())) {
    pyb::buffer_info info = pyb::reinterpret_borrow<pyb::buffer>(obj).request();
    const bool is_int = !info.format.empty() && std::string("bBhHiIlLqQ").find(info.format.back()) != std::string::npos;
    if (!is_int || info.ndim != 1) throw pyb::type_error("tokens must be a 1-D buffer of integers");
    out.resize(info.size);
    const auto* p = static_cast<const char*>(info.ptr);
    for (pyb::ssize_t i = 0; i < info.size; ++i) {
      const char* e = p + i * info.strides[0];
      if (info.itemsize == 4) {
        uint32_t v;
        std::memcpy(&v, e, 4);
        out[i] = v;
      } else if (info.itemsize == 8) {
        uint64_t v;
        std::memcpy(&v, e, 8);
        out[i] = static_cast<uint32_t>(v);
      } else {
        throw pyb::type_error("tokens must be 32- or 64-bit integers");
      }
    }
    return out;
  }
  for (pyb::handle h : obj) out.push_back(h.cast<uint32_t>());
  return out;
}

// RequestUsage as a dict: the same words as the daemon's per-tenant accounting.
pyb::dict UsageToPy(const RequestUsage& u) {
  pyb::dict hits;
  for (Tier t : {Tier::kDram, Tier::kDisk, Tier::kPeer}) hits[pyb::str(std::string(TierName(t)))] = u.hit_tokens_by_tier[static_cast<size_t>(t)];
  pyb::dict d;
  d["reported"] = u.reported;
  d["write_tokens"] = u.write_tokens;
  d["present_tokens"] = u.present_tokens;
  d["skipped_short_tokens"] = u.skipped_short_tokens;
  d["hit_tokens"] = hits;
  d["miss_tokens"] = u.miss_tokens;
  d["read_tokens"] = u.read_tokens;
  return d;
}

// A lookup with the GIL released; raises on error.
LookupResult LookupNoGil(PyStore& s, const PyNamespace& ns, pyb::handle keys) {
  std::vector<BlockKey> k = KeysFromPy(keys);
  Result<LookupResult> r = Status::Internal("unset");
  {
    pyb::gil_scoped_release nogil;
    r = s.store->Lookup(ns.id, k);
  }
  ThrowIfError(r.status());
  return std::move(r).value();
}

pyb::list TierNames(const LookupResult& r) {
  pyb::list tiers;
  for (Tier t : r.tiers) tiers.append(std::string(TierName(t)));
  return tiers;
}

pyb::dict StatsToPy(const StoreStats& s) {
  pyb::dict d;
  d["lookups"] = s.lookups;
  d["lookup_keys"] = s.lookup_keys;
  d["lookup_hits"] = s.lookup_hits;
  d["gets"] = s.gets;
  d["get_misses"] = s.get_misses;
  d["puts"] = s.puts;
  d["put_duplicates"] = s.put_duplicates;
  d["put_rejected"] = s.put_rejected;
  d["pinned_objects"] = s.pinned_objects;
  d["active_leases"] = s.active_leases;
  pyb::list tiers;
  for (const TierStats& t : s.tiers) {
    pyb::dict td;
    td["tier"] = std::string(TierName(t.tier));
    td["capacity_bytes"] = t.capacity_bytes;
    td["used_bytes"] = t.used_bytes;
    td["objects"] = t.objects;
    td["hits"] = t.hits;
    td["admissions"] = t.admissions;
    td["evictions"] = t.evictions;
    td["bytes_read"] = t.bytes_read;
    td["bytes_written"] = t.bytes_written;
    td["errors"] = t.errors;
    td["admitting"] = t.admitting;
    tiers.append(td);
  }
  d["tiers"] = tiers;
  return d;
}

// A zero-copy read under a lease: segments() are read-only views of the object's memory, valid until
// release() (or the end of a `with` block).
class PyReadHandle {
 public:
  PyReadHandle(std::shared_ptr<PyStore> store, ReadHandle h) : store_(std::move(store)), handle_(std::move(h)) {}
  pyb::list Segments() {
    if (!handle_.open()) throw pyb::value_error("the read view was released");
    pyb::list out;
    for (const auto& s : handle_.segments()) {
      out.append(pyb::reinterpret_steal<pyb::object>(PyMemoryView_FromMemory(
          const_cast<char*>(reinterpret_cast<const char*>(s.data())), static_cast<Py_ssize_t>(s.size()), PyBUF_READ)));
    }
    return out;
  }
  uint64_t nbytes() const { return handle_.size_bytes(); }
  void Release() {
    ReadHandle old = std::move(handle_);
    pyb::gil_scoped_release nogil;  // a daemon's handle ends its lease with a round trip
    old = ReadHandle();
  }
  const ReadHandle& handle() const { return handle_; }

 private:
  std::shared_ptr<PyStore> store_;  // the handle's memory lives in the store
  ReadHandle handle_;
};

// A zero-copy write: segments() are writable views of the reserved object's memory; commit()
// publishes it, abort() (or garbage collection) drops it. If the key was already present there are
// no segments and commit() is a no-op.
class PyWriteHandle {
 public:
  PyWriteHandle(std::shared_ptr<PyStore> store, WriteHandle h) : store_(std::move(store)), handle_(std::move(h)) {}
  pyb::list Segments() {
    if (!handle_.open()) throw pyb::value_error("the write view was committed or aborted");
    pyb::list out;
    for (const auto& s : handle_.segments()) {
      out.append(pyb::reinterpret_steal<pyb::object>(PyMemoryView_FromMemory(
          reinterpret_cast<char*>(s.data()), static_cast<Py_ssize_t>(s.size()), PyBUF_WRITE)));
    }
    return out;
  }
  bool present() const { return handle_.segments().empty(); }
  void Write(uint64_t offset, pyb::handle data) {
    HostBuffer b = HostBuffer::Borrow(data, /*writable=*/false);
    Status s;
    {
      pyb::gil_scoped_release nogil;
      s = handle_.Write(offset, b.bytes());
    }
    ThrowIfError(s);
  }
  void Commit() {
    Status s;
    {
      pyb::gil_scoped_release nogil;
      s = store_->store->Commit(handle_);
    }
    ThrowIfError(s);
  }
  void Abort() {
    WriteHandle old = std::move(handle_);
    pyb::gil_scoped_release nogil;
    old = WriteHandle();
  }

 private:
  std::shared_ptr<PyStore> store_;
  WriteHandle handle_;
};

// An asynchronous batch of gets into caller buffers, run on a background thread.
class GetFuture {
 public:
  GetFuture(std::shared_ptr<PyStore> store, NamespaceId ns, std::vector<BlockKey> keys, std::vector<HostBuffer> outs,
            KvSlice slice)
      : store_(std::move(store)), outs_(std::move(outs)) {
    std::vector<GetItem> items;
    for (size_t i = 0; i < keys.size(); ++i) items.push_back(GetItem{keys[i], outs_[i].bytes(), slice});
    worker_ = std::thread([this, ns, items = std::move(items)] {
      result_ = store_->store->GetBatch(ns, items);
      done_.store(true, std::memory_order_release);
    });
  }
  ~GetFuture() {
    if (worker_.joinable()) {
      pyb::gil_scoped_release nogil;
      worker_.join();
    }
  }
  bool done() const { return done_.load(std::memory_order_acquire); }
  // Blocks (without the GIL) until every get finished: one bool per key, False for a miss.
  pyb::list Wait() {
    if (worker_.joinable()) {
      pyb::gil_scoped_release nogil;
      worker_.join();
    }
    ThrowIfError(result_.transport);
    pyb::list out;
    for (const Status& s : result_.items) {
      if (!s.ok() && !s.IsNotFound()) Raise(s);
      out.append(pyb::bool_(s.ok()));
    }
    return out;
  }

 private:
  std::shared_ptr<PyStore> store_;
  std::vector<HostBuffer> outs_;
  BatchStatus result_;
  std::atomic<bool> done_{false};
  std::thread worker_;
};

DiskAdmission DiskAdmissionFromPy(const std::string& s) {
  if (s == "on_evict") return DiskAdmission::kOnEvict;
  if (s == "write_through") return DiskAdmission::kWriteThrough;
  ThrowIfError(Status::InvalidArgument("disk_admission is 'on_evict' or 'write_through', not '" + s + "'"));
  return DiskAdmission::kOnEvict;
}

std::shared_ptr<PyStore> OpenStore(const std::string& url, uint64_t dram_capacity_bytes, uint64_t page_bytes,
                                   bool huge_pages, bool prefault, const std::string& disk_dir,
                                   pyb::object disk_capacity_bytes, pyb::object disk_region_bytes,
                                   const std::string& disk_admission, pyb::object disk_write_queue_bytes,
                                   pyb::object disk_enqueue_wait_ms, pyb::object disk_io_bytes,
                                   pyb::object disk_io_depth, pyb::object disk_read_threads,
                                   const std::string& disk_owner, bool disk_shared,
                                   const std::string& token, const std::string& tls_ca_file, pyb::object io_timeout_ms) {
  OpenOptions open;
  ClientOptions& client = open.client;
  client.client_name = "tokenwarehouse-python";
  client.token = token;
  client.tls_ca_file = tls_ca_file;
  if (!io_timeout_ms.is_none()) client.io_timeout_ms = io_timeout_ms.cast<uint64_t>();
  EmbeddedStoreOptions& o = client.embedded;
  o.dram_capacity_bytes = dram_capacity_bytes;
  o.page_bytes = page_bytes;
  o.huge_pages = huge_pages;
  o.prefault = prefault;
  // Disk tier (embedded_store.h): None keeps the C++ default of each option.
  o.disk_dir = disk_dir;
  if (!disk_capacity_bytes.is_none()) o.disk_capacity_bytes = disk_capacity_bytes.cast<uint64_t>();
  if (!disk_region_bytes.is_none()) o.disk_region_bytes = disk_region_bytes.cast<uint64_t>();
  o.disk_admission = DiskAdmissionFromPy(disk_admission);
  if (!disk_write_queue_bytes.is_none()) o.disk_write_queue_bytes = disk_write_queue_bytes.cast<uint64_t>();
  if (!disk_enqueue_wait_ms.is_none()) o.disk_enqueue_wait_ms = disk_enqueue_wait_ms.cast<uint64_t>();
  if (!disk_io_bytes.is_none()) o.disk_io_bytes = disk_io_bytes.cast<uint64_t>();
  if (!disk_io_depth.is_none()) o.disk_io_depth = disk_io_depth.cast<uint32_t>();
  if (!disk_read_threads.is_none()) o.disk_read_threads = disk_read_threads.cast<uint32_t>();
  o.disk_owner = disk_owner;
  o.disk_shared = disk_shared;
  Result<std::unique_ptr<Store>> s = Status::Internal("unset");
  {
    pyb::gil_scoped_release nogil;  // pre-faulting a large arena takes seconds
    s = tw::Open(url, open);
  }
  ThrowIfError(s.status());
  auto out = std::make_shared<PyStore>();
  out->store = std::move(s).value();
  return out;
}

}  // namespace

void BindStore(pyb::module_& m) {
  m.def("_set_error_classes", &SetErrorClasses);

  pyb::class_<PyNamespace, std::shared_ptr<PyNamespace>>(m, "Namespace",
      "A registered namespace: tenant, model, adapter, salt and KV geometry. Made by Store.register_namespace.")
      .def_property_readonly("id", [](const PyNamespace& n) {
        return pyb::bytes(reinterpret_cast<const char*>(n.id.bytes), 16);
      })
      .def_property_readonly("root", [](const PyNamespace& n) { return KeyToPy(n.root); })
      .def_property_readonly("model_id", [](const PyNamespace& n) { return n.nspace.model_id; })
      .def_property_readonly("tenant", [](const PyNamespace& n) { return n.nspace.tenant; })
      .def_property_readonly("layers", [](const PyNamespace& n) { return n.nspace.geometry.layers; })
      .def_property_readonly("kv_heads", [](const PyNamespace& n) { return n.nspace.geometry.kv_heads; })
      .def_property_readonly("head_dim", [](const PyNamespace& n) { return n.nspace.geometry.head_dim; })
      .def_property_readonly("block_tokens", [](const PyNamespace& n) { return n.nspace.geometry.block_tokens; })
      .def_property_readonly("dtype", [](const PyNamespace& n) { return std::string(KvDtypeName(n.nspace.geometry.dtype)); })
      .def_property_readonly("codec", [](const PyNamespace& n) { return std::string(KvCodecName(n.nspace.codec)); },
                             "how objects are stored: 'none' (the canonical layout), 'fp8', 'int8' or 'kivi2'")
      .def_property_readonly("object_bytes", [](const PyNamespace& n) { return n.nspace.ObjectBytes(); })
      .def("encode",
           [](const PyNamespace& n, pyb::handle canonical, pyb::handle out) {
             // The CPU codec, for engines whose KV is on the CPU (the GPU path codes inside its copies).
             HostBuffer in = HostBuffer::Borrow(canonical, /*writable=*/false);
             HostBuffer o = HostBuffer::Borrow(out, /*writable=*/true);
             if (o.bytes().size() != n.nspace.ObjectBytes()) {
               ThrowIfError(Status::InvalidArgument("encode: out must be object_bytes (" +
                                                    std::to_string(n.nspace.ObjectBytes()) + ") bytes"));
             }
             Status st;
             {
               pyb::gil_scoped_release nogil;
               st = EncodeKv(n.nspace.codec, n.nspace.geometry, in.bytes(), o.bytes()).status();
             }
             ThrowIfError(st);
           },
           pyb::arg("canonical"), pyb::arg("out"),
           "Encodes one object in the canonical layout (the geometry's bytes) with the namespace's codec into "
           "`out` (object_bytes bytes): what put/reserve take for a coded namespace.")
      .def("decode",
           [](const PyNamespace& n, pyb::handle encoded, pyb::handle out) {
             HostBuffer in = HostBuffer::Borrow(encoded, /*writable=*/false);
             HostBuffer o = HostBuffer::Borrow(out, /*writable=*/true);
             Status st;
             {
               pyb::gil_scoped_release nogil;
               st = DecodeKv(n.nspace.codec, n.nspace.geometry, in.bytes(), o.bytes());
             }
             ThrowIfError(st);
           },
           pyb::arg("encoded"), pyb::arg("out"),
           "Decodes one stored object (object_bytes bytes) of a coded namespace into `out` (the canonical "
           "layout's bytes). CorruptionError for bytes that are not a valid encoding: treat it as a miss.")
      .def("slice_bytes", [](const PyNamespace& n, pyb::object layers, pyb::object heads) {
        return StoredBytes(n, SliceFromPy(layers, heads));
      }, pyb::arg("layers") = pyb::none(), pyb::arg("heads") = pyb::none())
      .def("block_keys", [](const PyNamespace& n, pyb::handle tokens, pyb::handle parent) {
        std::vector<uint32_t> t = TokensFromPy(tokens);
        const bool from_root = parent.is_none();
        const BlockKey first_parent = from_root ? n.root : KeyFromPy(parent);
        std::vector<BlockKey> keys;
        {
          pyb::gil_scoped_release nogil;
          if (from_root) {
            keys = n.nspace.BlockKeys(t);
          } else {
            // Continues a chain: an engine extends a request's keys as its tokens arrive.
            const uint32_t bt = n.nspace.geometry.block_tokens;
            const NamespaceId id = n.nspace.Id();
            BlockKey prev = first_parent;
            for (size_t i = 0; i + bt <= t.size(); i += bt) {
              prev = ChainKey(id, prev, std::span<const uint32_t>(t).subspan(i, bt), n.nspace.key_hash);
              keys.push_back(prev);
            }
          }
        }
        pyb::list out;
        for (const auto& k : keys) out.append(KeyToPy(k));
        return out;
      }, pyb::arg("tokens"), pyb::arg("parent") = pyb::none(),
      "Keys of every full block of `tokens`, chained from `parent` (None: the root), as a list of 16-byte "
      "bytes. block_keys(b, parent=block_keys(a)[-1]) == block_keys(a + b)[len(a) // block_tokens:] when "
      "len(a) is a multiple of block_tokens.")
      .def("__repr__", [](const PyNamespace& n) {
        return "<tokenwarehouse.Namespace " + n.nspace.model_id + " " + n.nspace.geometry.ToString() + ">";
      });

  pyb::class_<PyReadHandle>(m, "ReadHandle", "Zero-copy read of one object under a lease; release() ends it.")
      .def("segments", &PyReadHandle::Segments, "Read-only memoryviews of the object's memory, in layout order.")
      .def_property_readonly("nbytes", &PyReadHandle::nbytes)
      .def("release", &PyReadHandle::Release)
      .def("__enter__", [](pyb::object self) { return self; })
      .def("__exit__", [](PyReadHandle& v, pyb::args) { v.Release(); });

  pyb::class_<PyWriteHandle>(m, "WriteHandle", "Zero-copy write of one object; commit() publishes it.")
      .def("segments", &PyWriteHandle::Segments, "Writable memoryviews of the reserved memory, in layout order.")
      .def_property_readonly("present", &PyWriteHandle::present, "True if the key was already stored (nothing to write).")
      .def("write", &PyWriteHandle::Write, pyb::arg("offset"), pyb::arg("data"))
      .def("commit", &PyWriteHandle::Commit)
      .def("abort", &PyWriteHandle::Abort);

  pyb::class_<GetFuture>(m, "GetFuture", "An asynchronous batch of gets; wait() returns one bool per key.")
      .def("done", &GetFuture::done)
      .def("wait", &GetFuture::Wait);

  pyb::class_<PyStore, std::shared_ptr<PyStore>>(m, "Store", "A Token Warehouse store: embedded in this process, or a daemon's (tw://, tws://, unix://).")
      .def(pyb::init(&OpenStore), pyb::arg("url") = "", pyb::arg("dram_capacity_bytes") = 1ull << 30,
           pyb::arg("page_bytes") = 2ull << 20, pyb::arg("huge_pages") = false, pyb::arg("prefault") = true,
           pyb::kw_only(), pyb::arg("disk_dir") = "", pyb::arg("disk_capacity_bytes") = pyb::none(),
           pyb::arg("disk_region_bytes") = pyb::none(), pyb::arg("disk_admission") = "on_evict",
           pyb::arg("disk_write_queue_bytes") = pyb::none(), pyb::arg("disk_enqueue_wait_ms") = pyb::none(),
           pyb::arg("disk_io_bytes") = pyb::none(), pyb::arg("disk_io_depth") = pyb::none(),
           pyb::arg("disk_read_threads") = pyb::none(),
           pyb::arg("disk_owner") = "local", pyb::arg("disk_shared") = false, pyb::arg("token") = "",
           pyb::arg("tls_ca_file") = "", pyb::arg("io_timeout_ms") = pyb::none())
      .def("flush_disk",
           [](PyStore& s) {
             EmbeddedStore* e = s.embedded();
             if (e == nullptr) ThrowIfError(Status::NotSupported("flush_disk needs an embedded store"));
             Status st;
             {
               pyb::gil_scoped_release nogil;
               st = e->FlushDisk();
             }
             ThrowIfError(st);
           },
           "Waits until every object queued for the disk tier is written, then seals the active region (a "
           "restart then needs no scan). A no-op without a disk tier; UnavailableError if the tier stopped "
           "admitting after an I/O error.")
      .def("register_namespace",
           [](PyStore& s, const std::string& model_id, uint32_t layers, uint32_t kv_heads, uint32_t head_dim,
              const std::string& dtype, uint32_t block_tokens, const std::string& tenant, const std::string& model_revision,
              const std::string& adapter_id, const std::string& cache_salt, const std::string& key_hash, uint64_t ttl_ms,
              const std::string& codec, const std::string& retention, uint32_t min_prefix_tokens) {
             auto ns = std::make_shared<PyNamespace>();
             Namespace& n = ns->nspace;
             n.model_id = model_id;
             n.tenant = tenant;
             n.model_revision = model_revision;
             n.adapter_id = adapter_id;
             n.cache_salt = cache_salt;
             n.geometry.layers = layers;
             n.geometry.kv_heads = kv_heads;
             n.geometry.head_dim = head_dim;
             auto d = ParseKvDtype(dtype);
             ThrowIfError(d.status());
             n.geometry.dtype = d.value();
             n.geometry.block_tokens = block_tokens;
             if (key_hash == "sha256") {
               n.key_hash = KeyHash::kSha256;
             } else if (key_hash == "xxh3") {
               n.key_hash = KeyHash::kXxh3;
             } else {
               ThrowIfError(Status::InvalidArgument("key_hash is 'sha256' or 'xxh3'"));
             }
             Result<KvCodec> c = ParseKvCodec(codec);
             ThrowIfError(c.status());
             n.codec = c.value();
             NamespaceOptions o;
             o.ttl_ms = ttl_ms;
             if (!retention.empty()) {  // a class ("5m", "1h fixed", "persistent") instead of ttl_ms
               Result<Retention> r = ParseRetention(retention);
               ThrowIfError(r.status());
               o.ttl_ms = r->ttl_ms;
               o.ttl_sliding = r->sliding;
             }
             o.min_prefix_tokens = min_prefix_tokens;
             auto id = s.store->RegisterNamespace(n, o);
             ThrowIfError(id.status());
             ns->id = id.value();
             ns->root = n.Root();
             return ns;
           },
           pyb::kw_only(), pyb::arg("model_id"), pyb::arg("layers"), pyb::arg("kv_heads"), pyb::arg("head_dim"),
           pyb::arg("dtype") = "bf16", pyb::arg("block_tokens") = 256, pyb::arg("tenant") = "",
           pyb::arg("model_revision") = "", pyb::arg("adapter_id") = "", pyb::arg("cache_salt") = "",
           pyb::arg("key_hash") = "sha256", pyb::arg("ttl_ms") = 0,
           pyb::arg("codec") = "none", pyb::arg("retention") = "", pyb::arg("min_prefix_tokens") = 0)
      .def("lookup",
           [](PyStore& s, const PyNamespace& ns, pyb::handle keys) {
             const LookupResult r = LookupNoGil(s, ns, keys);
             return pyb::make_tuple(r.matched, TierNames(r));
           },
           pyb::arg("ns"), pyb::arg("keys"), "(matched, tiers): the longest present prefix of keys and the tier of each.")
      .def("lookup_usage",
           [](PyStore& s, const PyNamespace& ns, pyb::handle keys) {
             const LookupResult r = LookupNoGil(s, ns, keys);
             return pyb::make_tuple(r.matched, TierNames(r), UsageToPy(r.usage));
           },
           pyb::arg("ns"), pyb::arg("keys"),
           "(matched, tiers, usage): lookup, and the request's usage: hit_tokens by tier and miss_tokens.")
      .def("put_batch",
           [](PyStore& s, const PyNamespace& ns, pyb::handle keys, pyb::handle parent, pyb::handle datas) {
             std::vector<BlockKey> k = KeysFromPy(keys);
             std::vector<HostBuffer> bufs;
             for (pyb::handle d : datas) bufs.push_back(HostBuffer::Borrow(d, /*writable=*/false));
             if (bufs.size() != k.size()) ThrowIfError(Status::InvalidArgument("one data buffer per key"));
             std::vector<PutItem> items;
             BlockKey prev = parent.is_none() ? ns.root : KeyFromPy(parent);
             for (size_t i = 0; i < k.size(); ++i) {
               items.push_back(PutItem{BlockRef{k[i], prev}, bufs[i].bytes()});
               prev = k[i];
             }
             BatchStatus b;
             {
               pyb::gil_scoped_release nogil;
               b = s.store->PutBatch(ns.id, items);
             }
             ThrowIfError(b.transport);
             for (const Status& st : b.items) ThrowIfError(st);
             return UsageToPy(b.usage);
           },
           pyb::arg("ns"), pyb::arg("keys"), pyb::arg("parent"), pyb::arg("data"),
           "Stores a chain (keys[0]'s parent is `parent`, None = the root) as one request, the unit of "
           "min_prefix_tokens. Returns its usage: write_tokens (newly stored), present_tokens, "
           "skipped_short_tokens; 'reported' is False where the warehouse could not say (an older daemon). "
           "Raises the first failed item's error.")
      .def("put",
           [](PyStore& s, const PyNamespace& ns, pyb::handle key, pyb::handle parent, pyb::handle data) {
             BlockRef ref{KeyFromPy(key), parent.is_none() ? ns.root : KeyFromPy(parent)};
             HostBuffer b = HostBuffer::Borrow(data, /*writable=*/false);
             Status st;
             {
               pyb::gil_scoped_release nogil;
               st = s.store->Put(ns.id, ref, b.bytes());
             }
             ThrowIfError(st);
           },
           pyb::arg("ns"), pyb::arg("key"), pyb::arg("parent"), pyb::arg("data"),
           "Stores one object (parent None = the root). A key already present is not rewritten.")
      .def("get",
           [](std::shared_ptr<PyStore> s, const PyNamespace& ns, pyb::handle key, pyb::object out, pyb::object layers,
              pyb::object heads) -> pyb::object {
             const BlockKey k = KeyFromPy(key);
             const KvSlice slice = SliceFromPy(layers, heads);
             Status st;
             if (out.is_none()) {
               const uint64_t n = StoredBytes(ns, slice);
               if (n == 0) {  // why: outside the geometry, or a slice of an encoded object
                 ThrowIfError(StoredSliceRuns(ns.nspace.geometry, ns.nspace.codec != KvCodec::kNone,
                                              ns.nspace.ObjectBytes(), slice).status());
                 ThrowIfError(Status::InvalidArgument("invalid slice"));
               }
               // Shape and strides given explicitly: pybind11 2.10 (Debian 12) derives a default stride
               // from a dtype field that NumPy 2 moved, and under NumPy 2 (the engines' environment) it
               // gave stride 0, an array whose every element read the first byte.
               pyb::array_t<uint8_t> arr(std::vector<pyb::ssize_t>{static_cast<pyb::ssize_t>(n)},
                                         std::vector<pyb::ssize_t>{1});
               auto span = std::span<std::byte>(reinterpret_cast<std::byte*>(arr.mutable_data()), n);
               {
                 pyb::gil_scoped_release nogil;
                 st = s->store->Get(ns.id, k, span, slice);
               }
               if (st.IsNotFound()) return pyb::none();
               ThrowIfError(st);
               return arr;
             }
             HostBuffer b = HostBuffer::Borrow(out, /*writable=*/true);
             {
               pyb::gil_scoped_release nogil;
               st = s->store->Get(ns.id, k, b.bytes(), slice);
             }
             if (st.IsNotFound()) return pyb::none();
             ThrowIfError(st);
             return out;
           },
           pyb::arg("ns"), pyb::arg("key"), pyb::arg("out") = pyb::none(), pyb::arg("layers") = pyb::none(),
           pyb::arg("heads") = pyb::none(),
           "Copies the object (or a (layers, heads) slice) into `out` (any writable buffer or CPU tensor of exactly "
           "the slice's bytes) and returns it, or into a new uint8 array. None on a miss.")
      .def("get_async",
           [](std::shared_ptr<PyStore> s, const PyNamespace& ns, pyb::handle keys, pyb::handle outs, pyb::object layers,
              pyb::object heads) {
             std::vector<BlockKey> k = KeysFromPy(keys);
             std::vector<HostBuffer> b;
             for (pyb::handle o : outs) b.push_back(HostBuffer::Borrow(o, /*writable=*/true));
             if (b.size() != k.size()) ThrowIfError(Status::InvalidArgument("one output per key"));
             return std::make_unique<GetFuture>(s, ns.id, std::move(k), std::move(b), SliceFromPy(layers, heads));
           },
           pyb::arg("ns"), pyb::arg("keys"), pyb::arg("outs"), pyb::arg("layers") = pyb::none(),
           pyb::arg("heads") = pyb::none(), "Starts the gets on a background thread; returns a GetFuture.")
      .def("reserve",
           [](std::shared_ptr<PyStore> s, const PyNamespace& ns, pyb::handle key, pyb::handle parent) {
             BlockRef ref{KeyFromPy(key), parent.is_none() ? ns.root : KeyFromPy(parent)};
             Result<WriteHandle> h = Status::Internal("unset");
             {
               pyb::gil_scoped_release nogil;
               h = s->store->Reserve(ns.id, ref);
             }
             ThrowIfError(h.status());
             return PyWriteHandle(s, std::move(h).value());
           },
           pyb::arg("ns"), pyb::arg("key"), pyb::arg("parent"),
           "Reserves an object's memory for a zero-copy write (parent None = the root); same errors as put.")
      .def("acquire",
           [](std::shared_ptr<PyStore> s, const PyNamespace& ns, pyb::handle key, uint64_t lease_ms) -> pyb::object {
             const BlockKey k = KeyFromPy(key);
             Result<ReadHandle> h = Status::Internal("unset");
             {
               pyb::gil_scoped_release nogil;
               h = s->store->Acquire(ns.id, k, lease_ms);
             }
             if (h.status().IsNotFound()) return pyb::none();
             ThrowIfError(h.status());
             return pyb::cast(PyReadHandle(s, std::move(h).value()));
           },
           pyb::arg("ns"), pyb::arg("key"), pyb::arg("lease_ms") = 30000)
      .def("acquire_batch",
           [](std::shared_ptr<PyStore> s, const PyNamespace& ns, pyb::handle keys, uint64_t lease_ms) {
             std::vector<BlockKey> k = KeysFromPy(keys);
             std::vector<Result<ReadHandle>> hs;
             {
               pyb::gil_scoped_release nogil;
               hs = s->store->AcquireBatch(ns.id, k, lease_ms);
             }
             pyb::list out;
             for (Result<ReadHandle>& h : hs) {
               if (h.status().IsNotFound()) {
                 out.append(pyb::none());
                 continue;
               }
               ThrowIfError(h.status());
               out.append(pyb::cast(PyReadHandle(s, std::move(h).value())));
             }
             return out;
           },
           pyb::arg("ns"), pyb::arg("keys"), pyb::arg("lease_ms") = 30000,
           "acquire for many keys: a list of handles, None for a miss; one round trip to a daemon.")
      .def("pin",
           [](PyStore& s, const PyNamespace& ns, pyb::handle keys, uint64_t lease_ms) -> pyb::object {
             std::vector<BlockKey> k = KeysFromPy(keys);
             Result<LeaseId> r = Status::Internal("unset");
             {
               pyb::gil_scoped_release nogil;
               r = s.store->Pin(ns.id, k, lease_ms);
             }
             if (r.status().IsNotFound()) return pyb::none();
             ThrowIfError(r.status());
             return pyb::int_(r.value());
           },
           pyb::arg("ns"), pyb::arg("keys"), pyb::arg("lease_ms"),
           "Pins every key (all or nothing) and returns the lease id; None if any key is absent.")
      .def("unpin",
           [](PyStore& s, uint64_t lease) {
             Status st;
             {
               pyb::gil_scoped_release nogil;
               st = s.store->Unpin(lease);
             }
             ThrowIfError(st);
           },
           pyb::arg("lease"))
      .def("remove",
           [](PyStore& s, const PyNamespace& ns, pyb::handle key) {
             const BlockKey k = KeyFromPy(key);
             Status st;
             {
               pyb::gil_scoped_release nogil;
               st = s.store->Remove(ns.id, k);
             }
             if (st.IsNotFound()) return false;
             ThrowIfError(st);
             return true;
           },
           pyb::arg("ns"), pyb::arg("key"), "Removes an object from every tier; False if it was absent.")
      .def("stats",
           [](PyStore& s) {
             Result<StoreStats> st = Status::Internal("unset");
             {
               pyb::gil_scoped_release nogil;
               st = s.store->Stats();
             }
             ThrowIfError(st.status());
             return StatsToPy(*st);
           })
      .def_property_readonly("arena", [](PyStore& s) -> pyb::object {
        EmbeddedStore* e = s.embedded();
        if (e == nullptr) return pyb::none();
        ArenaInfo a = e->arena();
        return pyb::make_tuple(reinterpret_cast<uintptr_t>(a.base), a.size_bytes, a.page_bytes);
      }, "(address, size_bytes, page_bytes) of the DRAM arena of an embedded store; None for a remote one.");
}

}  // namespace tw::py
