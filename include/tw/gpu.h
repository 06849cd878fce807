// The GPU copy path: moves KV between warehouse objects (canonical layout, in host memory) and an
// engine's KV cache on a CUDA GPU. Built only when CUDA is found (target tw_gpu); this header names no
// CUDA type, so engines and bindings include it without the CUDA headers.
//
// Layouts on the GPU (one K and one V tensor per layer, contiguous, device pointers):
//   kHf:    [kv_heads, seq_capacity, head_dim]            (HF transformers, batch 1)
//   kPaged: [num_pages, page_tokens, kv_heads, head_dim]  (vLLM's paged cache); a page table maps the
//           request's token t to page page_table[t / page_tokens], row t % page_tokens.
//
// How bytes move (docs/engines/python.md has the numbers): the host memory of objects must be
// registered (HostRegistration; the DRAM arena is registered once, as a whole). A load is a few large
// kernels, one per layer, that read the objects straight out of pinned host memory over PCIe
// (kZeroCopy), or large copy-engine transfers of whole page runs into a device staging ring followed by
// one rearranging kernel per layer group (kStaged). Never one small copy per block per layer. Loads run
// on the mover's own stream and record one event per layer, so an engine's layer L waits for layer L
// only (StreamWaitLayer). Stores run on a second stream, off the load path.
//
// Thread-safety: a KvMover serves one load and one store at a time; use one mover per engine thread.
// Errors: kUnavailable when no CUDA device or driver is usable; kInvalidArgument for bad shapes or
// host memory that is not registered; kInternal for a CUDA failure (the message names the call).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tw/codec.h"
#include "tw/geometry.h"
#include "tw/result.h"
#include "tw/status.h"

namespace tw::gpu {

// OK if a CUDA device and driver are usable from this process; kUnavailable with the reason otherwise.
Status Available();

// Pins [base, base + size_bytes) for DMA and maps it for kernels, for the object's lifetime.
// Registering tens of gigabytes takes seconds (the kernel pins every page): do it once, at start.
class HostRegistration {
 public:
  static Result<std::unique_ptr<HostRegistration>> Register(void* base, uint64_t size_bytes);
  ~HostRegistration();
  HostRegistration(const HostRegistration&) = delete;
  HostRegistration& operator=(const HostRegistration&) = delete;
  void* base() const { return base_; }
  uint64_t size_bytes() const { return size_bytes_; }

 private:
  HostRegistration(void* base, uint64_t size) : base_(base), size_bytes_(size) {}
  void* base_;
  uint64_t size_bytes_;
};

enum class EngineLayout : uint8_t { kHf = 1, kPaged = 2 };

// The engine's KV cache for one request: per-layer device pointers to K and V.
struct EngineKv {
  EngineLayout layout = EngineLayout::kHf;
  std::vector<void*> k;          // one per layer of the geometry, device memory
  std::vector<void*> v;
  uint64_t seq_capacity = 0;     // kHf: the tensors' seq dimension
  uint32_t page_tokens = 0;      // kPaged: tokens per engine page; block_tokens must be a multiple
  std::vector<int32_t> page_table;  // kPaged: page of each page_tokens tokens of the request, in order
};

// One object's host memory, in layout order (a ReadHandle's or WriteHandle's segments).
using HostSegments = std::vector<std::span<const std::byte>>;
using MutableHostSegments = std::vector<std::span<std::byte>>;

enum class LoadMode : uint8_t {
  kZeroCopy = 1,  // kernels read pinned host memory directly
  kStaged = 2,    // copy engine into a device staging ring, then a rearranging kernel
};

struct MoverOptions {
  int device = 0;
  LoadMode mode = LoadMode::kZeroCopy;
  // kStaged: bytes of one staging buffer (two are used, alternating). Layer groups are sized to fit.
  uint64_t staging_bytes = 1ull << 30;
  // The namespace's codec (Namespace::codec). fp8, int8 and kivi2 objects are decoded inside the
  // load: the kernels read the encoded bytes over PCIe (half of bf16's; kivi2 0.29 at 256-token
  // blocks) and write the engine's dtype; a store encodes on the GPU. Same numbers as the CPU codec,
  // bit for bit. kZeroCopy only; bf16 or f16 KV, head_dim a multiple of 8; kivi2 also needs its
  // runs' parts in whole 8-byte words (head_dim 64, 128 and 256 always are) and at most 40 KiB of
  // (min, scale) pairs a run (1024-token blocks of 256-dim heads take 31 KiB). Lossless, and what
  // does not fit, are kNotSupported here (decode them on the CPU).
  KvCodec codec = KvCodec::kNone;
};

class KvMover {
 public:
  static Result<std::unique_ptr<KvMover>> Create(const KvGeometry& geometry, const MoverOptions& options);
  virtual ~KvMover() = default;

  // Enqueues a load of `objects` (object i holds tokens [i*block_tokens, (i+1)*block_tokens) of the
  // request) into `dst`, limited to the first `tokens` tokens (a trailing object may be loaded in part).
  // With a codec, an object whose header or run table does not check out is kCorruption (a miss;
  // nothing is queued).
  // Returns once the work is queued: it does not wait for the copies. The objects' memory must stay
  // valid (under a lease) until Synchronize returns. Layer by layer: layer L's event is recorded as
  // soon as layer L is in place.
  virtual Status Load(std::span<const HostSegments> objects, uint64_t tokens, const EngineKv& dst) = 0;

  // Makes `stream` (a cudaStream_t, as an integer; 0 = the legacy default stream) wait on the GPU for
  // layer `layer` of the last Load. Does not block the host.
  virtual Status StreamWaitLayer(uint32_t layer, uintptr_t stream) = 0;
  // True once layer `layer` of the last Load is in place (polls; never blocks).
  virtual bool LayerReady(uint32_t layer) = 0;
  // Blocks until the last Load is complete; reports a CUDA failure of it.
  virtual Status SynchronizeLoad() = 0;

  // Marks the point on `stream` (a cudaStream_t as an integer) after which the engine KV to store is
  // computed: later Stores wait for it on the GPU. Call from the engine's thread after the forward.
  virtual Status MarkStoreInput(uintptr_t stream) = 0;
  // Enqueues a store of blocks [first_block, first_block + objects.size()) of `src` into `objects`
  // (reserved, registered host memory, one per block) on the store stream, after the last
  // MarkStoreInput point. Returns at once.
  virtual Status Store(const EngineKv& src, uint64_t first_block, std::span<const MutableHostSegments> objects) = 0;
  // Blocks until the last Store is complete. Commit the objects only after this returns OK.
  virtual Status SynchronizeStore() = 0;

  // Milliseconds the last Load took on the GPU, from its first copy to its last layer's event.
  virtual Result<float> LastLoadMs() = 0;
};

// Measures pinned host-to-device copy bandwidth (GB/s, 1e9 bytes/s) with `bytes` per copy, the median
// of `repeats` copies on a fresh pinned buffer: the floor a load is quoted against.
Result<double> MeasureH2dBandwidth(uint64_t bytes, int repeats, int device = 0);

}  // namespace tw::gpu
