// Borrowing Python memory without copying: the buffer protocol (NumPy, bytearray, memoryview) and
// DLPack (PyTorch CPU tensors and any other exporter). And the one way the binding raises errors.
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <span>

#include "tw/status.h"

namespace tw::py {

namespace pyb = pybind11;

// Raises the tokenwarehouse exception of s.code() (errors.py) with s's message. Never returns.
[[noreturn]] void Raise(const Status& s);
inline void ThrowIfError(const Status& s) {
  if (!s.ok()) Raise(s);
}
// Installs the code -> exception class table; called once by tokenwarehouse/__init__.py.
void SetErrorClasses(pyb::dict classes);

// Host memory of a Python object, borrowed for this object's lifetime. Move-only.
class HostBuffer {
 public:
  // Raises TypeError (not contiguous, not host memory, no buffer protocol or __dlpack__) and, when
  // `writable`, for read-only buffers.
  static HostBuffer Borrow(pyb::handle obj, bool writable);
  HostBuffer(HostBuffer&& o) noexcept;
  HostBuffer& operator=(HostBuffer&&) = delete;
  HostBuffer(const HostBuffer&) = delete;
  ~HostBuffer();

  std::span<std::byte> bytes() const { return {data_, size_}; }

 private:
  HostBuffer() = default;
  std::byte* data_ = nullptr;
  size_t size_ = 0;
  bool has_view_ = false;
  Py_buffer view_{};
  void* dl_managed_ = nullptr;  // DLManagedTensor*, released through its deleter
};

}  // namespace tw::py
