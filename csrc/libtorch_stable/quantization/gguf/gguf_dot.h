#pragma once
// The matmuls' arithmetic, shared by the CPU loops and the GPU kernels: activations quantized
// to 8-bit blocks, and the integer dot product of one decoded weight chunk with them.
//
// Activations: each run of kQ8Block (32) values of a row of X becomes int8 codes and one fp32
// scale, code = rint(x / scale) with scale = max|x| / 127 (all-zero runs: scale 0, codes 0).
// A weight chunk (gguf_blocks.h) then contributes
//     x_scale * (chunk.scale * sum(q * code) + chunk.offset * sum(code)),
// the sums exact in int32.

#include <cmath>
#include <cstdint>

#include "../../../int8_dot.h"
#include "gguf_blocks.h"

namespace vllm_ops::gguf {

constexpr int kQ8Block = 32;

VLLM_OPS_HOST_DEVICE float q8_scale(float amax) { return amax / 127.f; }

VLLM_OPS_HOST_DEVICE int32_t q8_code(float x, float scale) {
  return scale == 0.f ? 0 : static_cast<int32_t>(rintf(x / scale));
}

// One chunk against 16 activation codes (four words of int8 lanes), before the x scale.
template <class Traits>
VLLM_OPS_HOST_DEVICE float chunk_dot(const Chunk& w, const uint32_t* x) {
  int32_t dot = 0;
  for (int j = 0; j < 4; ++j) dot = dot4_i8(static_cast<int32_t>(w.w[j]), static_cast<int32_t>(x[j]), dot);
  float r = w.scale * static_cast<float>(dot);
  if constexpr (Traits::kHasOffset) {
    int32_t sum = 0;
    for (int j = 0; j < 4; ++j) sum = dot4_i8(0x01010101, static_cast<int32_t>(x[j]), sum);
    r += w.offset * static_cast<float>(sum);
  }
  return r;
}

// Element k of a decoded chunk, in the reference's rounding order (see gguf_blocks.h).
VLLM_OPS_HOST_DEVICE float chunk_element(const Chunk& w, int k) {
  const int8_t q = static_cast<int8_t>(w.w[k / 4] >> (8 * (k % 4)));
  return add_rn(mul_rn(w.scale, static_cast<float>(q)), w.offset);
}

}  // namespace vllm_ops::gguf
