#pragma once
// The GPTQ weight format, once for the CPU loops, the CUDA and the HIP kernels.
//
// qweight int32 [K * bits / 32, N] is packed along K: the words of one column, read in row order,
// form a little-endian bit stream in which value k sits at bits [k * bits, (k + 1) * bits). Every
// 32 consecutive values fill exactly `bits` words (a "pack"; for 3 bits, value 10 and value 21
// straddle a word boundary, never a pack boundary). qzeros int32 [groups, N * bits / 32] uses the
// same stream along N. scales [groups, N]. Weight = scale * (q - zero), with zero = stored + 1 for
// v1 checkpoints (GPTQ stored zero - 1) and zero = stored for v2.

#include <cstdint>

#include "../../../host_device.h"

namespace vllm_ops {
namespace gptq {

constexpr int kPackValues = 32;  // values per pack, for every bit width

constexpr bool supported_bits(int64_t bits) { return bits == 2 || bits == 3 || bits == 4 || bits == 8; }

template <int kBits>
struct PackedBits {
  static_assert(kBits == 2 || kBits == 3 || kBits == 4 || kBits == 8, "GPTQ packs 2, 3, 4 or 8 bits");
  static constexpr int kWords = kBits;  // words per pack of 32 values
  static constexpr uint32_t kMask = (1u << kBits) - 1u;

  // Value i (0..31) of a pack whose words are w[0..kBits).
  VLLM_OPS_HOST_DEVICE static uint32_t get(const uint32_t* w, int i) {
    const int bit = i * kBits, word = bit / 32, shift = bit % 32;
    uint32_t v = w[word] >> shift;
    if (shift + kBits > 32) v |= w[word + 1] << (32 - shift);  // 3 bits only
    return v & kMask;
  }

  // All 32 values of a pack.
  VLLM_OPS_HOST_DEVICE static void unpack(const uint32_t (&w)[kWords], uint32_t (&q)[kPackValues]) {
VLLM_OPS_UNROLL
    for (int i = 0; i < kPackValues; ++i) q[i] = get(w, i);
  }

  VLLM_OPS_HOST_DEVICE static void pack(const uint32_t (&q)[kPackValues], uint32_t (&w)[kWords]) {
VLLM_OPS_UNROLL
    for (int j = 0; j < kWords; ++j) w[j] = 0;
VLLM_OPS_UNROLL
    for (int i = 0; i < kPackValues; ++i) {
      const int bit = i * kBits, word = bit / 32, shift = bit % 32;
      w[word] |= (q[i] & kMask) << shift;
      if (shift + kBits > 32) w[word + 1] |= (q[i] & kMask) >> (32 - shift);
    }
  }

  // Value `col` of a row of qzeros (the stream runs along N there).
  VLLM_OPS_HOST_DEVICE static uint32_t get_along_row(const uint32_t* row, int64_t col) {
    const int64_t pack = col / kPackValues;
    return get(row + pack * kWords, static_cast<int>(col % kPackValues));
  }
};

// Calls f(std::integral_constant-like tag) with PackedBits<bits>; bits was checked already.
template <class F>
void dispatch_bits(int64_t bits, F&& f) {
  switch (bits) {
    case 2: f(PackedBits<2>{}); break;
    case 3: f(PackedBits<3>{}); break;
    case 4: f(PackedBits<4>{}); break;
    default: f(PackedBits<8>{}); break;
  }
}

// The zero a stored qzeros value stands for.
VLLM_OPS_HOST_DEVICE int zero_point(uint32_t stored, bool v2_zeros) {
  return static_cast<int>(stored) + (v2_zeros ? 0 : 1);
}

// One weight, exact in fp32: |q - zero| <= 256 times a 16-bit scale needs at most 20 bits.
VLLM_OPS_HOST_DEVICE float dequant(uint32_t q, int zero, float scale) {
  return static_cast<float>(static_cast<int>(q) - zero) * scale;
}

// What a kernel needs to read the weights, for either path of gptq_gemm:
//   plain (use_exllama=False): rows as stored; g_idx (if any) names each row's group.
//   prepared (use_exllama=True, after gptq_shuffle): stored row r is original row perm[r] (if a
//   perm is given) and belongs to group r / group_size.
// So `row_group` is non-null only on the plain path with g_idx, `perm` only on the prepared path.
struct WeightView {
  const uint32_t* qweight;  // [k * bits / 32, n]
  const uint32_t* qzeros;   // [groups, n * bits / 32]
  const void* scales;       // [groups, n], the activation dtype
  const int32_t* row_group;  // [k] or null
  const int32_t* perm;       // [k] or null
  int64_t k, n, groups, group_size;
  int bits;
  bool v2_zeros;
  int device = -1;  // of the tensors: the GPU host code picks kernels by its compute capability

  // The host checks g_idx and perm values; kernels clamp them, so a bad value on the GPU (where
  // checking would cost a sync per call) gives wrong numbers, never a stray memory access.
  VLLM_OPS_HOST_DEVICE int64_t group_of(int64_t row) const {
    return row_group ? clamp(row_group[row], groups) : row / group_size;
  }
  // The activation column (and dequantized output row) that stored row `row` stands for.
  VLLM_OPS_HOST_DEVICE int64_t source_of(int64_t row) const { return perm ? clamp(perm[row], k) : row; }
  VLLM_OPS_HOST_DEVICE static int64_t clamp(int64_t v, int64_t end) { return v < 0 ? 0 : (v >= end ? end - 1 : v); }
};

}  // namespace gptq
}  // namespace vllm_ops
