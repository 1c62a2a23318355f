#pragma once
// The math of scaled_fp4_quant (NVFP4), written once for the CUDA kernel and for the host
// program that checks it against the pure-torch reference on machines without a GPU
// (tests/native/nvfp4_math_check.cpp). Per block of 16 consecutive elements of a row, with the
// global scale g (input_scale[0]):
//   amax  = max |x|                                  (exact: x is fp16 or bf16)
//   sf8   = e4m3(min(g * (amax * r6), 448))          round to nearest even; r6 = fp32(1 / 6)
//   inv   = sf8 == 0 ? 0 : 1 / (float(sf8) * (1 / g))
//   code  = e2m1(x * inv)                            round to nearest even on
//                                                    {0, .5, 1, 1.5, 2, 3, 4, 6}, saturating at 6
// Every operation is one IEEE fp32 operation, so a torch reference gives the same bits. vLLM's
// kernel (Blackwell only) takes both reciprocals with rcp.approx, which may differ in the last
// bit, and multiplies by rcp.approx(6); on Hopper and older it has no kernel to compare with.
// The e2m1 code keeps the input's sign (a negative value that rounds to 0 gives 0x8); NaN gives
// +6 (0x7), as the fp8 quantizers map NaN to +M. Two codes per byte, element 2j in the low
// nibble of byte j.

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../w8a8/quant_math.h"

namespace vllm_ops::fp4 {

constexpr int kBlock = 16;      // elements per scale
constexpr float kE2m1Max = 6.0f;

VLLM_OPS_HOST_DEVICE uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

// The 4-bit e2m1 code of v, rounding to nearest even on the grid, in about a dozen integer and
// fp32 operations (seven comparisons and their sum took three times as many, and bound the kernel
// on the H200). |v| is clipped at 8, above which every code is 7; fminf takes NaN to 8 as well.
//   below 1: the grid is the multiples of 0.5, so the code is 2|v| rounded to an integer, ties to
//            even, which adding 2^23 (whose ulp is 1) does; 2|v| is exact, so an FMA changes nothing;
//   from 1:  the grid has one mantissa bit: the mantissa rounded to its top bit (ties to even, a
//            carry moving to the next binade), then exponent and bit read as the code:
//            1 -> 2, 1.5 -> 3, 2 -> 4, 3 -> 5, 4 -> 6, 6 -> 7, 8 -> 8, saturated to 7.
// tests/test_fp4.py compares it with the reference's comparisons on every float near the grid
// points and midpoints at many scales (and it equals them on all 2^32 floats, checked once).
VLLM_OPS_HOST_DEVICE uint32_t e2m1_code(float v) {
  const float a = fminf(fabsf(v), 8.0f);
  const uint32_t u = float_bits(a);
  const uint32_t below_one = float_bits(fmaf(a, 2.0f, 8388608.0f)) - 0x4B000000u;
  const uint32_t from_one = ((u + 0x1FFFFFu + ((u >> 22) & 1u)) >> 22) - 252u;
  const uint32_t magnitude = a < 1.0f ? below_one : (from_one < 7u ? from_one : 7u);
  const uint32_t sign = v != v ? 0u : (float_bits(v) >> 31) << 3;
  return sign | magnitude;
}

// x clamped to [0, 1]: on CUDA the FMA pipe's .sat modifier, folded into the add or fma before it.
VLLM_OPS_HOST_DEVICE float saturate(float x) {
#if defined(__CUDA_ARCH__)
  return __saturatef(x);
#else
  return fminf(fmaxf(x, 0.0f), 1.0f);
#endif
}

// e2m1_code for a finite v in floating-point adds and fmas only. e2m1_code's shifts, selects and
// comparisons all issue on the ALU pipe, which runs at half the FMA pipe's rate on sm_80/sm_90
// and bound the kernel on the H200. Adding 2^23 (ulp 1) rounds to an integer, ties to even:
//   r1 = rne(2a), r2 = rne(a), r3 = rne(a / 2)   (a = |v|)
// are the values on grids of step 0.5, 1 and 2, the steps of e2m1 below 2, in [2, 4) and from 4,
// so the magnitude code is
//   min(r1, 4) + min(max(r2 - 2, 0), 2) + min(max(r3 - 2, 0), 1)
// each term a [0, 1] clamp of one fma, scaled (their sum is at most 7: the saturation at 6).
// A tie goes to the even multiple of its step, which is the even code. Every operation is exact
// but the three roundings (the subtractions of 2^23 are folded into the clamps' fmas), and huge
// a saturates each term, infinities in between included. NaN would clamp to 0: callers take
// e2m1_code for non-finite values. Equal to e2m1_code on all 2^32 - 2^24 finite floats (checked
// once on the host) and on the grid-point sweep of tests/test_fp4.py.
VLLM_OPS_HOST_DEVICE uint32_t e2m1_code_finite(float v) {
  constexpr float k2p23 = 8388608.0f;
  const float a = fabsf(v);
  const float t1 = saturate(fmaf(fmaf(a, 2.0f, k2p23), 0.25f, -2097152.0f));  // min(r1, 4) / 4
  const float t2 = saturate(fmaf(a + k2p23, 0.5f, -4194305.0f));             // min(max(r2 - 2, 0), 2) / 2
  const float t3 = saturate(fmaf(a, 0.5f, k2p23) - 8388610.0f);              // min(max(r3 - 2, 0), 1)
  const float magnitude = fmaf(t1, 4.0f, fmaf(t2, 2.0f, t3 + k2p23));        // 2^23 + code, exact
  return (float_bits(magnitude) - 0x4B000000u) | ((float_bits(v) >> 31) << 3);
}

// The block's e4m3 scale byte from its absmax.
VLLM_OPS_HOST_DEVICE uint8_t block_scale_bits(float amax, float global_scale) {
  constexpr float kRcp6 = 1.0f / kE2m1Max;  // fp32(1/6), rounded once at compile time
  const auto sf = quant::float_to_fp8_sat<quant::Fp8E4m3fn>(global_scale * (amax * kRcp6));
  return sf.x;
}

// The factor that takes the block's values onto the e2m1 grid.
VLLM_OPS_HOST_DEVICE float block_inverse_scale(uint8_t scale_bits, float global_scale) {
  if (scale_bits == 0) return 0.0f;
#if defined(__CUDA_ARCH__) && !defined(USE_ROCM)
  // e4m3 -> fp16 is exact, so this equals the software conversion below: one cvt on sm_89+
  // where the software form took about 20 instructions per block.
  const float sf = __half2float(__half(__nv_cvt_fp8_to_halfraw(scale_bits, __NV_E4M3)));
#else
  const float sf = static_cast<float>(quant::Fp8E4m3fn(scale_bits, quant::Fp8E4m3fn::from_bits()));
#endif
  return 1.0f / (sf * (1.0f / global_scale));
}

// One block: 16 values (already fp32) to its scale byte and eight bytes of codes.
VLLM_OPS_HOST_DEVICE void quantize_block(const float (&x)[kBlock], float global_scale, uint8_t& scale_bits,
                                         uint32_t (&packed)[2]) {
  float amax = 0.0f;
  for (int i = 0; i < kBlock; ++i) amax = fmaxf(amax, fabsf(x[i]));
  scale_bits = block_scale_bits(amax, global_scale);
  const float inv = block_inverse_scale(scale_bits, global_scale);
  float p[kBlock];
  float finite = 0.0f;  // 0 when every p is finite: inf * 0 and NaN * 0 are NaN
  for (int i = 0; i < kBlock; ++i) {
    p[i] = x[i] * inv;
    finite = fmaf(p[i], 0.0f, finite);
  }
  packed[0] = packed[1] = 0;
  // Added, not or-ed (the nibbles are disjoint): one shift-and-add per code.
  if (finite == 0.0f) {
    for (int i = 0; i < kBlock; ++i) packed[i / 8] += e2m1_code_finite(p[i]) << (4 * (i % 8));
  } else {
    for (int i = 0; i < kBlock; ++i) packed[i / 8] += e2m1_code(p[i]) << (4 * (i % 8));
  }
}

// Byte offset of scale (row, col) in the 128 x 4 tiled layout that Blackwell's block-scaled MMA
// reads: tiles of 128 rows x 4 scale columns, 512 bytes each, row-major over the tiles; inside a
// tile, row r sits at (r % 32) * 16 + (r / 32) * 4 and column c at + c.
// Index is the caller's unsigned or signed integer type (the kernel takes 32 bits when it can).
template <typename Index>
VLLM_OPS_HOST_DEVICE Index swizzled_scale_offset(Index row, Index col, Index padded_cols) {
  const Index tile = (row / 128) * (padded_cols / 4) + col / 4;
  return tile * 512 + (row % 32) * 16 + ((row / 32) % 4) * 4 + col % 4;
}

}  // namespace vllm_ops::fp4
