// The inner loop of the 8-bit codecs' decode (fp8, int8) into bf16, written for the vectorizer:
// a CPU engine (vLLM on the CPU, llama.cpp) decodes on its load path, where the scalar loop through
// float scratch ran at 0.1-0.25x memcpy. Each value is the same IEEE single multiply of the same
// operands, rounded to bf16 the same way, as the scalar path (FloatToBf16) and the GPU kernels:
// the output is bit-identical, only faster (the loops are cloned for AVX2 where the CPU has it).
#pragma once

#include <cstdint>

namespace tw::codec {

// rows x dims codes ([row][dim]) into rows x dims bf16 values. `scales`: one per dim (keys: per
// channel) when per_channel, else one per row (values: per token). `e4m3` is the 256-entry table of
// fp8 codes' values; null means int8 codes.
void Dequant8ToBf16(const uint8_t* codes, uint32_t rows, uint32_t dims, const float* scales, bool per_channel,
                    const float* e4m3, uint16_t* out);

}  // namespace tw::codec
