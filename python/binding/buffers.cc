#include "binding/buffers.h"

#include <cstdint>
#include <map>
#include <string>

namespace tw::py {
namespace {

// The DLPack ABI (dlpack.h, v0.x), declared from the specification: only what a consumer reads.
struct DlDevice {
  int32_t device_type;  // 1 = CPU, 2 = CUDA, 3 = CUDA host (pinned)
  int32_t device_id;
};
struct DlDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};
struct DlTensor {
  void* data;
  DlDevice device;
  int32_t ndim;
  DlDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; nullptr means compact row-major
  uint64_t byte_offset;
};
struct DlManagedTensor {
  DlTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DlManagedTensor* self);
};

constexpr int32_t kDlCpu = 1;
constexpr int32_t kDlCudaHost = 3;

std::map<int, pyb::object>& ErrorClasses() {
  static auto* classes = new std::map<int, pyb::object>();  // never destroyed: outlives interpreter teardown
  return *classes;
}

}  // namespace

void SetErrorClasses(pyb::dict classes) {
  for (auto item : classes) ErrorClasses()[item.first.cast<int>()] = pyb::reinterpret_borrow<pyb::object>(item.second);
}

void Raise(const Status& s) {
  auto& classes = ErrorClasses();
  auto it = classes.find(static_cast<int>(s.code()));
  PyObject* type = it != classes.end() ? it->second.ptr() : PyExc_RuntimeError;
  PyErr_SetString(type, std::string(s.message().empty() ? StatusCodeName(s.code()) : s.message()).c_str());
  throw pyb::error_already_set();
}

HostBuffer HostBuffer::Borrow(pyb::handle obj, bool writable) {
  HostBuffer b;
  if (PyObject_CheckBuffer(obj.ptr())) {
    const int flags = writable ? (PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) : PyBUF_C_CONTIGUOUS;
    if (PyObject_GetBuffer(obj.ptr(), &b.view_, flags) != 0) {
      PyErr_Clear();
      throw pyb::type_error(writable ? "expected a writable, C-contiguous buffer"
                                     : "expected a C-contiguous buffer");
    }
    b.has_view_ = true;
    b.data_ = static_cast<std::byte*>(b.view_.buf);
    b.size_ = static_cast<size_t>(b.view_.len);
    return b;
  }
  if (pyb::hasattr(obj, "__dlpack__")) {
    pyb::object capsule = obj.attr("__dlpack__")();
    auto* m = static_cast<DlManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
    if (m == nullptr) {
      PyErr_Clear();
      throw pyb::type_error("__dlpack__ did not return a DLPack capsule");
    }
    // Consumed: rename so the capsule's destructor does not free it; we call the deleter ourselves.
    PyCapsule_SetName(capsule.ptr(), "used_dltensor");
    b.dl_managed_ = m;
    const DlTensor& t = m->dl_tensor;
    if (t.device.device_type != kDlCpu && t.device.device_type != kDlCudaHost) {
      throw pyb::type_error("expected a tensor in host memory (a CUDA tensor goes through the GPU path)");
    }
    uint64_t elems = 1;
    for (int i = 0; i < t.ndim; ++i) elems *= static_cast<uint64_t>(t.shape[i]);
    if (t.strides != nullptr) {
      int64_t expect = 1;
      for (int i = t.ndim - 1; i >= 0; --i) {
        if (t.shape[i] != 1 && t.strides[i] != expect) throw pyb::type_error("expected a contiguous tensor");
        expect *= t.shape[i];
      }
    }
    b.data_ = static_cast<std::byte*>(t.data) + t.byte_offset;
    b.size_ = elems * ((t.dtype.bits * t.dtype.lanes + 7) / 8);
    return b;
  }
  throw pyb::type_error("expected an object with the buffer protocol (numpy, bytes, bytearray) or __dlpack__ (torch)");
}

HostBuffer::HostBuffer(HostBuffer&& o) noexcept
    : data_(o.data_), size_(o.size_), has_view_(o.has_view_), view_(o.view_), dl_managed_(o.dl_managed_) {
  o.has_view_ = false;
  o.dl_managed_ = nullptr;
}

HostBuffer::~HostBuffer() {
  if (has_view_) PyBuffer_Release(&view_);
  if (dl_managed_) {
    auto* m = static_cast<DlManagedTensor*>(dl_managed_);
    if (m->deleter) m->deleter(m);
  }
}

}  // namespace tw::py
