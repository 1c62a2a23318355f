#pragma once
// The AWQ 4-bit checkpoint format (AutoAWQ's "GEMM" layout, as vLLM reads it), for host and
// device:
//   qweight int32 [K, N / 8]: word c of row k holds columns 8c..8c+7, one nibble each;
//   qzeros  int32 [K / G, N / 8]: the zero points, packed the same way;
//   scales  [K / G, N] in the activations' dtype;
//   weight[k][n] = (q[k][n] - zero[k / G][n]) * scale[k / G][n], rounded once to that dtype.
// Inside a word the columns are interleaved: column j (0..7) sits in nibble nibble_of_column(j)
// (bits 4i..4i+3 for nibble i), so nibbles 0..7 hold columns 0, 2, 4, 6, 1, 3, 5, 7.

#include <cstdint>

#include "../../../host_device.h"

namespace vllm_ops::awq {

constexpr int kPack = 8;  // columns per int32

constexpr VLLM_OPS_HOST_DEVICE int nibble_of_column(int j) { return (j >> 1) | ((j & 1) << 2); }
static_assert(nibble_of_column(1) == 4 && nibble_of_column(2) == 1 && nibble_of_column(6) == 3 &&
              nibble_of_column(7) == 7, "AWQ's interleave: nibbles hold columns 0 2 4 6 1 3 5 7");

// Column j (0..7) of a packed word.
VLLM_OPS_HOST_DEVICE int unpack(uint32_t word, int j) { return static_cast<int>((word >> (4 * nibble_of_column(j))) & 0xFu); }

// (q - zero) * scale, exact in fp32 (a 5-bit integer times an fp16 or bf16 scale), so that one
// rounding to the output dtype gives the correctly rounded value.
VLLM_OPS_HOST_DEVICE float dequant(int q, int zero, float scale) { return static_cast<float>(q - zero) * scale; }

}  // namespace vllm_ops::awq
