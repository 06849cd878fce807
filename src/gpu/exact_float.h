// Float arithmetic and conversions that give the same bits on the device as the CPU codec
// (src/codec/numeric.h, run_codecs.cc) gives on the host, for the GPU codec kernels: numeric.h's
// __host__ __device__ functions (why explicit Mul/Add/Sub: see there), named in tw::gpu, plus the
// checks the kernels need. The host instantiation is tested against the CPU codec on a machine
// without a GPU (kivi_run_test.cc). C++17: kernels are compiled as C++17.
#pragma once

#include <cstdint>

#include "codec/numeric.h"

#if defined(__CUDACC__)
// Before a __host__ __device__ template that calls device-only accessors (the kernels' views of
// engine rows and host pages): their host instantiation is never made, so nvcc need not check it.
#define TW_HD_TEMPLATE _Pragma("nv_exec_check_disable")
#else
#define TW_HD_TEMPLATE
#endif

namespace tw::gpu {

using codec::Add;
using codec::Bf16ToFloat;
using codec::BitsFloat;
using codec::Div;
using codec::F16ToFloat;
using codec::FloatBits;
using codec::FloatToBf16;
using codec::FloatToF16;
using codec::FloatToHalf;
using codec::HalfToFloat;
using codec::Mul;
using codec::RoundHalfEven;
using codec::Sub;

TW_HD bool IsFinite(float f) { return (FloatBits(f) & 0x7F800000u) != 0x7F800000u; }

}  // namespace tw::gpu
