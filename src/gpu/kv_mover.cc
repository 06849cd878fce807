// KvMover: builds chunk descriptors on the host, uploads them once per load, and launches one copy
// kernel per layer on the load stream, recording an event after each layer.
//
// Staged mode pipelines two staging buffers: while the copy engine fills buffer (g+1)%2 with layer
// group g+1 (whole page runs, megabytes each), the kernel stream rearranges group g out of buffer g%2.
// A buffer is refilled only after the kernels that read it have finished (event staged_free_).
//
// Invariants: descriptor host buffers are pinned and reused; a new Load first waits for the previous
// one, so the upload of the last descriptors has completed before they are overwritten.
#include "tw/gpu.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <string>

#include "gpu/coded_runs.h"
#include "gpu/kv_codec_kernels.h"
#include "gpu/kv_kernels.h"

namespace tw::gpu {
namespace {

Status CudaError(cudaError_t e, const char* what) {
  return Status::Internal(std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

#define TW_CUDA_RETURN(expr)                        \
  do {                                              \
    cudaError_t tw_cuda_e_ = (expr);                \
    if (tw_cuda_e_ != cudaSuccess) return CudaError(tw_cuda_e_, #expr); \
  } while (0)

cudaStream_t AsStream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

// A growable pinned host buffer or device buffer of T.
template <typename T, bool kDevice>
class Buffer {
 public:
  ~Buffer() { Free(); }
  Status Reserve(size_t n) {
    if (n <= capacity_) return Status::Ok();
    Free();
    const size_t want = std::max(n, capacity_ * 3 / 2);
    void* p = nullptr;
    cudaError_t e = kDevice ? cudaMalloc(&p, want * sizeof(T)) : cudaMallocHost(&p, want * sizeof(T));
    if (e != cudaSuccess) return CudaError(e, kDevice ? "cudaMalloc" : "cudaMallocHost");
    data_ = static_cast<T*>(p);
    capacity_ = want;
    return Status::Ok();
  }
  T* data() const { return data_; }

 private:
  void Free() {
    if (data_) kDevice ? cudaFree(data_) : cudaFreeHost(data_);
    data_ = nullptr;
    capacity_ = 0;
  }
  T* data_ = nullptr;
  size_t capacity_ = 0;
};

// Maps object byte offsets to addresses across an object's segments. Offsets asked for must increase.
template <typename Byte>
class SegmentCursor {
 public:
  explicit SegmentCursor(const std::vector<std::span<Byte>>& segments) : segments_(segments) {}
  // The address of `offset` and the bytes contiguous from it; nullptr past the end.
  Byte* At(uint64_t offset, uint64_t* contiguous) {
    while (index_ < segments_.size() && offset >= start_ + segments_[index_].size()) {
      start_ += segments_[index_].size();
      ++index_;
    }
    if (index_ == segments_.size() || offset < start_) return nullptr;
    *contiguous = start_ + segments_[index_].size() - offset;
    return segments_[index_].data() + (offset - start_);
  }

 private:
  const std::vector<std::span<Byte>>& segments_;
  size_t index_ = 0;
  uint64_t start_ = 0;
};

class KvMoverImpl final : public KvMover {
 public:
  KvMoverImpl(const KvGeometry& g, const MoverOptions& o) : g_(g), options_(o) {
    row_bytes_ = static_cast<uint32_t>(g.head_dim * KvDtypeBytes(g.dtype));
    run_bytes_ = static_cast<uint64_t>(g.block_tokens) * row_bytes_;
    layer_bytes_ = 2ull * g.kv_heads * run_bytes_;
  }

  ~KvMoverImpl() override {
    cudaSetDevice(options_.device);
    if (load_stream_) cudaStreamSynchronize(load_stream_);
    if (store_stream_) cudaStreamSynchronize(store_stream_);
    if (copy_stream_) cudaStreamSynchronize(copy_stream_);
    for (cudaEvent_t e : layer_events_) cudaEventDestroy(e);
    for (cudaEvent_t e : {start_, end_, store_after_, staged_full_[0], staged_full_[1], staged_free_[0], staged_free_[1]}) {
      if (e) cudaEventDestroy(e);
    }
    for (cudaStream_t s : {load_stream_, store_stream_, copy_stream_}) {
      if (s) cudaStreamDestroy(s);
    }
  }

  void SetCoded(CodedRuns runs) { coded_ = std::move(runs); }

  Status Init() {
    TW_CUDA_RETURN(cudaSetDevice(options_.device));
    TW_CUDA_RETURN(cudaStreamCreateWithFlags(&load_stream_, cudaStreamNonBlocking));
    TW_CUDA_RETURN(cudaStreamCreateWithFlags(&store_stream_, cudaStreamNonBlocking));
    TW_CUDA_RETURN(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking));
    layer_events_.resize(g_.layers, nullptr);
    for (cudaEvent_t& e : layer_events_) TW_CUDA_RETURN(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    TW_CUDA_RETURN(cudaEventCreate(&start_));
    TW_CUDA_RETURN(cudaEventCreate(&end_));
    TW_CUDA_RETURN(cudaEventCreateWithFlags(&store_after_, cudaEventDisableTiming));
    for (int i = 0; i < 2; ++i) {
      TW_CUDA_RETURN(cudaEventCreateWithFlags(&staged_full_[i], cudaEventDisableTiming));
      TW_CUDA_RETURN(cudaEventCreateWithFlags(&staged_free_[i], cudaEventDisableTiming));
    }
    return Status::Ok();
  }

  Status Load(std::span<const HostSegments> objects, uint64_t tokens, const EngineKv& dst) override {
    TW_RETURN_IF_ERROR(CheckEngine(dst, objects.size(), tokens));
    TW_CUDA_RETURN(cudaSetDevice(options_.device));
    TW_RETURN_IF_ERROR(SynchronizeLoad());  // the descriptor buffers are about to be reused
    const size_t n_obj = std::min<uint64_t>(objects.size(), (tokens + g_.block_tokens - 1) / g_.block_tokens);
    if (coded_) return LoadCoded(objects.first(n_obj), tokens, dst);
    const bool staged = options_.mode == LoadMode::kStaged;
    if (!staged) {
      for (size_t b = 0; b < n_obj; ++b) TW_RETURN_IF_ERROR(CheckRegistered(objects[b]));
    }

    // Layer groups (staged): each object's group range should be at least a 2 MiB run for the copy
    // engine, and a group of all objects must fit one staging buffer.
    uint32_t group_layers = 1;
    if (staged) {
      group_layers = static_cast<uint32_t>(std::max<uint64_t>(1, ((2ull << 20) + layer_bytes_ - 1) / layer_bytes_));
      group_layers = std::min(group_layers, g_.layers);
      const uint64_t group_bytes = std::max<uint64_t>(1, n_obj) * group_layers * layer_bytes_;
      TW_RETURN_IF_ERROR(staging_[0].Reserve(std::max(group_bytes, options_.staging_bytes)));
      TW_RETURN_IF_ERROR(staging_[1].Reserve(std::max(group_bytes, options_.staging_bytes)));
    }

    // Descriptors of every layer, in layer order; layer_first_[l] indexes the first of layer l.
    descs_.clear();
    descs_.reserve(n_obj * 2 * g_.kv_heads * g_.layers);
    layer_first_.assign(g_.layers + 1, 0);
    for (uint32_t l = 0; l < g_.layers; ++l) {
      layer_first_[l] = descs_.size();
      const uint32_t group = l / group_layers;
      for (size_t b = 0; b < n_obj; ++b) {
        const uint32_t tok_end = static_cast<uint32_t>(std::min<uint64_t>(g_.block_tokens, tokens - b * g_.block_tokens));
        SegmentCursor<const std::byte> cursor(objects[b]);
        for (uint32_t kvh = 0; kvh < 2 * g_.kv_heads; ++kvh) {
          const uint64_t offset = static_cast<uint64_t>(l) * layer_bytes_ + kvh * run_bytes_;
          if (staged) {
            const uint64_t in_group = offset - static_cast<uint64_t>(group) * group_layers * layer_bytes_;
            const std::byte* s = staging_[group % 2].data() + b * group_layers * layer_bytes_ + in_group;
            descs_.push_back(ChunkDesc{reinterpret_cast<uint64_t>(s), static_cast<uint32_t>(b), static_cast<uint16_t>(kvh),
                                       static_cast<uint16_t>(l), 0, tok_end});
            continue;
          }
          TW_RETURN_IF_ERROR(AddRuns(cursor, offset, static_cast<uint32_t>(b), kvh, l, tok_end, &descs_));
        }
      }
    }
    const size_t n = descs_.size();
    layer_first_[g_.layers] = n;
    TW_RETURN_IF_ERROR(host_descs_.Reserve(n + 1));
    TW_RETURN_IF_ERROR(dev_descs_.Reserve(n + 1));
    std::memcpy(host_descs_.data(), descs_.data(), n * sizeof(ChunkDesc));

    TW_CUDA_RETURN(cudaEventRecord(start_, load_stream_));
    TW_CUDA_RETURN(cudaMemcpyAsync(dev_descs_.data(), host_descs_.data(), n * sizeof(ChunkDesc),
                                   cudaMemcpyHostToDevice, load_stream_));
    if (!dst.page_table.empty()) {
      TW_RETURN_IF_ERROR(load_pages_.Reserve(dst.page_table.size()));
      TW_RETURN_IF_ERROR(host_pages_.Reserve(dst.page_table.size()));
      std::copy(dst.page_table.begin(), dst.page_table.end(), host_pages_.data());
      TW_CUDA_RETURN(cudaMemcpyAsync(load_pages_.data(), host_pages_.data(), dst.page_table.size() * sizeof(int32_t),
                                     cudaMemcpyHostToDevice, load_stream_));
    }
    TW_RETURN_IF_ERROR(UploadLayerPointers(dst, host_load_ptrs_, load_ptrs_, load_stream_));
    if (staged) {
      TW_CUDA_RETURN(cudaEventRecord(staged_free_[0], load_stream_));
      TW_CUDA_RETURN(cudaEventRecord(staged_free_[1], load_stream_));
    }

    for (uint32_t l0 = 0; l0 < g_.layers; l0 += group_layers) {
      const uint32_t l1 = std::min(g_.layers, l0 + group_layers);
      const int buf = static_cast<int>((l0 / group_layers) % 2);
      if (staged) {
        TW_CUDA_RETURN(cudaStreamWaitEvent(copy_stream_, staged_free_[buf], 0));
        for (size_t b = 0; b < n_obj; ++b) {
          SegmentCursor<const std::byte> cursor(objects[b]);
          uint64_t offset = static_cast<uint64_t>(l0) * layer_bytes_;
          const uint64_t end = static_cast<uint64_t>(l1) * layer_bytes_;
          std::byte* out = staging_[buf].data() + b * group_layers * layer_bytes_;
          while (offset < end) {
            uint64_t contiguous = 0;
            const std::byte* src = cursor.At(offset, &contiguous);
            if (src == nullptr) return Status::InvalidArgument("object segments are shorter than the object");
            const uint64_t len = std::min(contiguous, end - offset);
            TW_CUDA_RETURN(cudaMemcpyAsync(out, src, len, cudaMemcpyHostToDevice, copy_stream_));
            out += len;
            offset += len;
          }
        }
        TW_CUDA_RETURN(cudaEventRecord(staged_full_[buf], copy_stream_));
        TW_CUDA_RETURN(cudaStreamWaitEvent(load_stream_, staged_full_[buf], 0));
      }
      for (uint32_t l = l0; l < l1; ++l) {
        LayerCopyArgs a = Args(dst, load_ptrs_.data(), Direction::kToEngine, load_pages_.data());
        a.descs = dev_descs_.data() + layer_first_[l];
        a.n_descs = static_cast<uint32_t>(layer_first_[l + 1] - layer_first_[l]);
        TW_CUDA_RETURN(LaunchLayerCopy(a, load_stream_));
        TW_CUDA_RETURN(cudaEventRecord(layer_events_[l], load_stream_));
      }
      if (staged) TW_CUDA_RETURN(cudaEventRecord(staged_free_[buf], load_stream_));
    }
    TW_CUDA_RETURN(cudaEventRecord(end_, load_stream_));
    loaded_ = true;
    return Status::Ok();
  }

  Status StreamWaitLayer(uint32_t layer, uintptr_t stream) override {
    if (layer >= g_.layers) return Status::InvalidArgument("layer out of range");
    if (!loaded_) return Status::Ok();
    TW_CUDA_RETURN(cudaStreamWaitEvent(AsStream(stream), layer_events_[layer], 0));
    return Status::Ok();
  }

  bool LayerReady(uint32_t layer) override {
    if (layer >= g_.layers) return false;
    return !loaded_ || cudaEventQuery(layer_events_[layer]) == cudaSuccess;
  }

  Status SynchronizeLoad() override {
    if (!loaded_) return Status::Ok();
    TW_CUDA_RETURN(cudaEventSynchronize(end_));
    return Status::Ok();
  }

  Result<float> LastLoadMs() override {
    if (!loaded_) return Status::InvalidArgument("no load yet");
    TW_RETURN_IF_ERROR(SynchronizeLoad());
    float ms = 0;
    TW_CUDA_RETURN(cudaEventElapsedTime(&ms, start_, end_));
    return ms;
  }

  Status MarkStoreInput(uintptr_t stream) override {
    TW_CUDA_RETURN(cudaSetDevice(options_.device));
    TW_CUDA_RETURN(cudaEventRecord(store_after_, AsStream(stream)));
    store_marked_ = true;
    return Status::Ok();
  }

  Status Store(const EngineKv& src, uint64_t first_block, std::span<const MutableHostSegments> objects) override {
    const uint64_t tokens = (first_block + objects.size()) * g_.block_tokens;
    TW_RETURN_IF_ERROR(CheckEngine(src, first_block + objects.size(), tokens));
    TW_CUDA_RETURN(cudaSetDevice(options_.device));
    TW_RETURN_IF_ERROR(SynchronizeStore());
    for (const auto& o : objects) {
      if (o.empty()) return Status::InvalidArgument("an object to store has no memory");
      TW_RETURN_IF_ERROR(CheckRegisteredPtr(o.front().data()));
    }
    if (coded_) return StoreCoded(src, first_block, objects);
    std::vector<HostSegments> ro;  // descriptors carry plain addresses either way
    ro.reserve(objects.size());
    for (const auto& o : objects) ro.emplace_back(o.begin(), o.end());
    std::vector<ChunkDesc> descs;
    for (uint32_t l = 0; l < g_.layers; ++l) {
      for (size_t i = 0; i < objects.size(); ++i) {
        SegmentCursor<const std::byte> cursor(ro[i]);
        for (uint32_t kvh = 0; kvh < 2 * g_.kv_heads; ++kvh) {
          const uint64_t offset = static_cast<uint64_t>(l) * layer_bytes_ + kvh * run_bytes_;
          TW_RETURN_IF_ERROR(
              AddRuns(cursor, offset, static_cast<uint32_t>(first_block + i), kvh, l, g_.block_tokens, &descs));
        }
      }
    }
    const size_t n = descs.size();
    TW_RETURN_IF_ERROR(store_host_descs_.Reserve(n + 1));
    TW_RETURN_IF_ERROR(store_dev_descs_.Reserve(n + 1));
    std::memcpy(store_host_descs_.data(), descs.data(), n * sizeof(ChunkDesc));

    if (store_marked_) TW_CUDA_RETURN(cudaStreamWaitEvent(store_stream_, store_after_, 0));
    TW_CUDA_RETURN(cudaMemcpyAsync(store_dev_descs_.data(), store_host_descs_.data(), n * sizeof(ChunkDesc),
                                   cudaMemcpyHostToDevice, store_stream_));
    if (!src.page_table.empty()) {
      TW_RETURN_IF_ERROR(store_pages_.Reserve(src.page_table.size()));
      TW_RETURN_IF_ERROR(store_host_pages_.Reserve(src.page_table.size()));
      std::copy(src.page_table.begin(), src.page_table.end(), store_host_pages_.data());
      TW_CUDA_RETURN(cudaMemcpyAsync(store_pages_.data(), store_host_pages_.data(),
                                     src.page_table.size() * sizeof(int32_t), cudaMemcpyHostToDevice, store_stream_));
    }
    TW_RETURN_IF_ERROR(UploadLayerPointers(src, host_store_ptrs_, store_ptrs_, store_stream_));
    // One launch for every layer: a store is off the critical path, so no per-layer events.
    LayerCopyArgs a = Args(src, store_ptrs_.data(), Direction::kFromEngine, store_pages_.data());
    a.descs = store_dev_descs_.data();
    a.n_descs = static_cast<uint32_t>(n);
    TW_CUDA_RETURN(LaunchLayerCopy(a, store_stream_));
    stored_ = true;
    return Status::Ok();
  }

  Status SynchronizeStore() override {
    if (!stored_) return Status::Ok();
    TW_CUDA_RETURN(cudaStreamSynchronize(store_stream_));
    return Status::Ok();
  }

 private:
  // A load of encoded objects: their headers checked on the host, then one decode launch per layer,
  // each recording its layer's event as the plain load does.
  Status LoadCoded(std::span<const HostSegments> objects, uint64_t tokens, const EngineKv& dst) {
    for (const HostSegments& o : objects) {
      TW_RETURN_IF_ERROR(CheckRegistered(o));
      TW_RETURN_IF_ERROR(coded_->CheckHeader(o));
    }
    coded_descs_.clear();
    coded_pieces_.clear();
    layer_first_.assign(g_.layers + 1, 0);
    for (uint32_t l = 0; l < g_.layers; ++l) {
      layer_first_[l] = coded_descs_.size();
      for (size_t b = 0; b < objects.size(); ++b) {
        const uint32_t tok_end = static_cast<uint32_t>(std::min<uint64_t>(g_.block_tokens, tokens - b * g_.block_tokens));
        TW_RETURN_IF_ERROR(coded_->Add(objects[b], static_cast<uint32_t>(b), l, tok_end, &coded_descs_, &coded_pieces_));
      }
    }
    layer_first_[g_.layers] = coded_descs_.size();
    TW_RETURN_IF_ERROR(UploadCoded(coded_descs_, coded_pieces_, host_coded_, dev_coded_, host_pieces_, dev_pieces_,
                                   load_stream_, /*record_start=*/true));
    if (!dst.page_table.empty()) {
      TW_RETURN_IF_ERROR(load_pages_.Reserve(dst.page_table.size()));
      TW_RETURN_IF_ERROR(host_pages_.Reserve(dst.page_table.size()));
      std::copy(dst.page_table.begin(), dst.page_table.end(), host_pages_.data());
      TW_CUDA_RETURN(cudaMemcpyAsync(load_pages_.data(), host_pages_.data(), dst.page_table.size() * sizeof(int32_t),
                                     cudaMemcpyHostToDevice, load_stream_));
    }
    TW_RETURN_IF_ERROR(UploadLayerPointers(dst, host_load_ptrs_, load_ptrs_, load_stream_));
    for (uint32_t l = 0; l < g_.layers; ++l) {
      CodedRunArgs a = CodedArgs(Args(dst, load_ptrs_.data(), Direction::kToEngine, load_pages_.data()));
      a.runs = dev_coded_.data() + layer_first_[l];
      a.n_runs = static_cast<uint32_t>(layer_first_[l + 1] - layer_first_[l]);
      a.pieces = dev_pieces_.data();
      TW_CUDA_RETURN(coded_->LaunchDecode(a, load_stream_));
      TW_CUDA_RETURN(cudaEventRecord(layer_events_[l], load_stream_));
    }
    TW_CUDA_RETURN(cudaEventRecord(end_, load_stream_));
    loaded_ = true;
    return Status::Ok();
  }

  // A store that encodes: the host writes each object's header and run table, one launch encodes
  // every run of every object (off the critical path, so no per-layer events).
  Status StoreCoded(const EngineKv& src, uint64_t first_block, std::span<const MutableHostSegments> objects) {
    std::vector<CodedRunDesc> descs;
    std::vector<RunPiece> pieces;
    for (size_t i = 0; i < objects.size(); ++i) {
      TW_RETURN_IF_ERROR(coded_->WriteHeader(objects[i]));
      const HostSegments ro(objects[i].begin(), objects[i].end());
      for (uint32_t l = 0; l < g_.layers; ++l) {
        TW_RETURN_IF_ERROR(coded_->Add(ro, static_cast<uint32_t>(first_block + i), l, g_.block_tokens, &descs, &pieces));
      }
    }
    if (store_marked_) TW_CUDA_RETURN(cudaStreamWaitEvent(store_stream_, store_after_, 0));
    TW_RETURN_IF_ERROR(UploadCoded(descs, pieces, store_host_coded_, store_dev_coded_, store_host_pieces_,
                                   store_dev_pieces_, store_stream_, /*record_start=*/false));
    if (!src.page_table.empty()) {
      TW_RETURN_IF_ERROR(store_pages_.Reserve(src.page_table.size()));
      TW_RETURN_IF_ERROR(store_host_pages_.Reserve(src.page_table.size()));
      std::copy(src.page_table.begin(), src.page_table.end(), store_host_pages_.data());
      TW_CUDA_RETURN(cudaMemcpyAsync(store_pages_.data(), store_host_pages_.data(),
                                     src.page_table.size() * sizeof(int32_t), cudaMemcpyHostToDevice, store_stream_));
    }
    TW_RETURN_IF_ERROR(UploadLayerPointers(src, host_store_ptrs_, store_ptrs_, store_stream_));
    CodedRunArgs a = CodedArgs(Args(src, store_ptrs_.data(), Direction::kFromEngine, store_pages_.data()));
    a.runs = store_dev_coded_.data();
    a.n_runs = static_cast<uint32_t>(descs.size());
    a.pieces = store_dev_pieces_.data();
    TW_CUDA_RETURN(coded_->LaunchEncode(a, store_stream_));
    stored_ = true;
    return Status::Ok();
  }

  Status UploadCoded(const std::vector<CodedRunDesc>& descs, const std::vector<RunPiece>& pieces,
                     Buffer<CodedRunDesc, false>& host_descs, Buffer<CodedRunDesc, true>& dev_descs,
                     Buffer<RunPiece, false>& host_pieces, Buffer<RunPiece, true>& dev_pieces, cudaStream_t stream,
                     bool record_start) {
    TW_RETURN_IF_ERROR(host_descs.Reserve(descs.size() + 1));
    TW_RETURN_IF_ERROR(dev_descs.Reserve(descs.size() + 1));
    TW_RETURN_IF_ERROR(host_pieces.Reserve(pieces.size() + 1));
    TW_RETURN_IF_ERROR(dev_pieces.Reserve(pieces.size() + 1));
    std::memcpy(host_descs.data(), descs.data(), descs.size() * sizeof(CodedRunDesc));
    std::memcpy(host_pieces.data(), pieces.data(), pieces.size() * sizeof(RunPiece));
    if (record_start) TW_CUDA_RETURN(cudaEventRecord(start_, stream));
    TW_CUDA_RETURN(cudaMemcpyAsync(dev_descs.data(), host_descs.data(), descs.size() * sizeof(CodedRunDesc),
                                   cudaMemcpyHostToDevice, stream));
    TW_CUDA_RETURN(cudaMemcpyAsync(dev_pieces.data(), host_pieces.data(), pieces.size() * sizeof(RunPiece),
                                   cudaMemcpyHostToDevice, stream));
    return Status::Ok();
  }

  CodedRunArgs CodedArgs(const LayerCopyArgs& copy) const {
    CodedRunArgs a;
    a.copy = copy;
    a.head_dim = g_.head_dim;
    a.fp8 = options_.codec == KvCodec::kFp8;
    a.bf16 = g_.dtype == KvDtype::kBF16;
    return a;
  }

  // Uploads the engine's per-layer pointers (K then V) on `stream` into `dev` via pinned `host`.
  Status UploadLayerPointers(const EngineKv& e, Buffer<char*, false>& host, Buffer<char*, true>& dev,
                             cudaStream_t stream) {
    TW_RETURN_IF_ERROR(host.Reserve(2 * g_.layers));
    TW_RETURN_IF_ERROR(dev.Reserve(2 * g_.layers));
    for (uint32_t l = 0; l < g_.layers; ++l) {
      host.data()[l] = static_cast<char*>(e.k[l]);
      host.data()[g_.layers + l] = static_cast<char*>(e.v[l]);
    }
    TW_CUDA_RETURN(cudaMemcpyAsync(dev.data(), host.data(), 2 * g_.layers * sizeof(char*), cudaMemcpyHostToDevice, stream));
    return Status::Ok();
  }

  LayerCopyArgs Args(const EngineKv& e, char* const* layer_ptrs, Direction dir, const int32_t* pages) const {
    LayerCopyArgs a;
    a.k = layer_ptrs;
    a.v = layer_ptrs + g_.layers;
    a.kv_heads = g_.kv_heads;
    a.block_tokens = g_.block_tokens;
    a.row_bytes = row_bytes_;
    a.layout = static_cast<int>(e.layout);
    a.seq_capacity = e.seq_capacity;
    a.page_table = pages;
    a.page_tokens = e.page_tokens;
    a.direction = dir;
    return a;
  }

  // Descriptors for the run at object `offset`, tokens [0, tok_end), split where a segment ends.
  Status AddRuns(SegmentCursor<const std::byte>& cursor, uint64_t offset, uint32_t block, uint32_t kvh,
                 uint32_t layer, uint32_t tok_end, std::vector<ChunkDesc>* out) const {
    uint32_t tok = 0;
    while (tok < tok_end) {
      uint64_t contiguous = 0;
      const std::byte* p = cursor.At(offset + static_cast<uint64_t>(tok) * row_bytes_, &contiguous);
      if (p == nullptr) return Status::InvalidArgument("object segments are shorter than the object");
      if (contiguous < row_bytes_) return Status::NotSupported("a segment boundary splits a KV row; use pages that are a multiple of head_dim * dtype bytes");
      const uint32_t rows = static_cast<uint32_t>(std::min<uint64_t>(contiguous / row_bytes_, tok_end - tok));
      if (row_bytes_ % 16 == 0 && reinterpret_cast<uintptr_t>(p) % 16 != 0) {
        return Status::InvalidArgument("object memory is not 16-byte aligned");
      }
      out->push_back(ChunkDesc{reinterpret_cast<uint64_t>(p), block, static_cast<uint16_t>(kvh),
                               static_cast<uint16_t>(layer), tok, tok + rows});
      tok += rows;
    }
    return Status::Ok();
  }

  Status CheckEngine(const EngineKv& e, uint64_t blocks, uint64_t tokens) const {
    if (e.k.size() != g_.layers || e.v.size() != g_.layers) {
      return Status::InvalidArgument("engine KV needs one K and one V pointer per layer (" + std::to_string(g_.layers) + ")");
    }
    for (uint32_t l = 0; l < g_.layers; ++l) {
      if (!e.k[l] || !e.v[l]) return Status::InvalidArgument("null engine KV pointer");
      if (row_bytes_ % 16 == 0 && ((reinterpret_cast<uintptr_t>(e.k[l]) | reinterpret_cast<uintptr_t>(e.v[l])) % 16)) {
        return Status::InvalidArgument("engine KV tensors must be 16-byte aligned");
      }
    }
    if (tokens > blocks * g_.block_tokens) return Status::InvalidArgument("more tokens than the objects hold");
    if (e.layout == EngineLayout::kHf) {
      if (tokens > e.seq_capacity) return Status::InvalidArgument("tokens exceed the HF cache's seq capacity");
    } else if (e.layout == EngineLayout::kPaged) {
      if (e.page_tokens == 0 || g_.block_tokens % e.page_tokens != 0) {
        return Status::InvalidArgument("block_tokens must be a multiple of the engine's page_tokens");
      }
      if (e.page_table.size() * e.page_tokens < blocks * g_.block_tokens) {
        return Status::InvalidArgument("the page table does not cover the blocks");
      }
    } else {
      return Status::InvalidArgument("unknown engine layout");
    }
    return Status::Ok();
  }

  Status CheckRegistered(const HostSegments& segments) const {
    if (segments.empty()) return Status::InvalidArgument("an object has no memory");
    return CheckRegisteredPtr(segments.front().data());
  }

  static Status CheckRegisteredPtr(const void* p) {
    cudaPointerAttributes attr{};
    cudaError_t e = cudaPointerGetAttributes(&attr, p);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return CudaError(e, "cudaPointerGetAttributes");
    }
    if (attr.type != cudaMemoryTypeHost) {
      return Status::InvalidArgument("object memory is not registered with CUDA: register the DRAM arena first "
                                     "(or use LoadMode::kStaged)");
    }
    return Status::Ok();
  }

  const KvGeometry g_;
  const MoverOptions options_;
  uint32_t row_bytes_ = 0;
  uint64_t run_bytes_ = 0;
  uint64_t layer_bytes_ = 0;

  cudaStream_t load_stream_ = nullptr, store_stream_ = nullptr, copy_stream_ = nullptr;
  std::vector<cudaEvent_t> layer_events_;
  cudaEvent_t start_ = nullptr, end_ = nullptr, store_after_ = nullptr;
  cudaEvent_t staged_full_[2] = {nullptr, nullptr}, staged_free_[2] = {nullptr, nullptr};
  bool loaded_ = false;
  bool stored_ = false;
  std::atomic<bool> store_marked_{false};

  Buffer<ChunkDesc, false> host_descs_, store_host_descs_;
  Buffer<ChunkDesc, true> dev_descs_, store_dev_descs_;
  Buffer<int32_t, false> host_pages_, store_host_pages_;
  Buffer<int32_t, true> load_pages_, store_pages_;
  Buffer<std::byte, true> staging_[2];
  Buffer<char*, false> host_load_ptrs_, host_store_ptrs_;
  Buffer<char*, true> load_ptrs_, store_ptrs_;
  std::vector<ChunkDesc> descs_;
  std::vector<size_t> layer_first_;

  // With a codec (options_.codec): the runs' layout, and the coded loads' and stores' descriptors.
  std::optional<CodedRuns> coded_;
  std::vector<CodedRunDesc> coded_descs_;
  std::vector<RunPiece> coded_pieces_;
  Buffer<CodedRunDesc, false> host_coded_, store_host_coded_;
  Buffer<CodedRunDesc, true> dev_coded_, store_dev_coded_;
  Buffer<RunPiece, false> host_pieces_, store_host_pieces_;
  Buffer<RunPiece, true> dev_pieces_, store_dev_pieces_;
};

}  // namespace

Status Available() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return Status::Unavailable(std::string("no usable CUDA device: ") + cudaGetErrorString(e));
  }
  if (n == 0) return Status::Unavailable("no CUDA device");
  return Status::Ok();
}

Result<std::unique_ptr<HostRegistration>> HostRegistration::Register(void* base, uint64_t size_bytes) {
  TW_RETURN_IF_ERROR(Available());
  if (base == nullptr || size_bytes == 0) return Status::InvalidArgument("nothing to register");
  TW_CUDA_RETURN(cudaHostRegister(base, size_bytes, cudaHostRegisterPortable | cudaHostRegisterMapped));
  return std::unique_ptr<HostRegistration>(new HostRegistration(base, size_bytes));
}

HostRegistration::~HostRegistration() { cudaHostUnregister(base_); }

Result<std::unique_ptr<KvMover>> KvMover::Create(const KvGeometry& geometry, const MoverOptions& options) {
  TW_RETURN_IF_ERROR(geometry.Validate());
  if (geometry.layers > 0xFFFF || 2ull * geometry.kv_heads > 0xFFFF) {
    return Status::NotSupported("the GPU copy path handles at most 65535 layers and 32767 KV heads");
  }
  TW_RETURN_IF_ERROR(Available());
  auto m = std::make_unique<KvMoverImpl>(geometry, options);
  if (options.codec != KvCodec::kNone) {
    if (options.mode != LoadMode::kZeroCopy) return Status::NotSupported("coded loads run in LoadMode::kZeroCopy only");
    TW_ASSIGN_OR_RETURN(CodedRuns runs, CodedRuns::Make(options.codec, geometry));
    m->SetCoded(std::move(runs));
  }
  TW_RETURN_IF_ERROR(m->Init());
  return std::unique_ptr<KvMover>(std::move(m));
}

Result<double> MeasureH2dBandwidth(uint64_t bytes, int repeats, int device) {
  TW_RETURN_IF_ERROR(Available());
  TW_CUDA_RETURN(cudaSetDevice(device));
  void* host = nullptr;
  void* dev = nullptr;
  TW_CUDA_RETURN(cudaMallocHost(&host, bytes));
  cudaError_t e = cudaMalloc(&dev, bytes);
  if (e != cudaSuccess) {
    cudaFreeHost(host);
    return CudaError(e, "cudaMalloc");
  }
  std::memset(host, 0x5A, bytes);
  cudaStream_t s;
  cudaEvent_t a, b;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<float> ms;
  for (int i = 0; i < repeats + 1; ++i) {
    cudaEventRecord(a, s);
    cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, s);
    cudaEventRecord(b, s);
    e = cudaEventSynchronize(b);
    if (e != cudaSuccess) break;
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    if (i > 0) ms.push_back(t);  // the first copy is a warm-up
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaStreamDestroy(s);
  cudaFree(dev);
  cudaFreeHost(host);
  if (e != cudaSuccess) return CudaError(e, "cudaMemcpyAsync");
  if (ms.empty()) return Status::InvalidArgument("repeats must be > 0");
  std::sort(ms.begin(), ms.end());
  return static_cast<double>(bytes) / (ms[ms.size() / 2] * 1e-3) / 1e9;
}

}  // namespace tw::gpu
