#pragma once
// What every GGUF decoder is made of, for host and device alike: the decoded-chunk contract,
// little-endian loads, fp16/e8m0 scale conversion, byte-lane helpers, and the qualifier that puts
// lookup tables in device memory for GPU code.
//
// The contract. A type's traits decode one chunk of kChunk (16) consecutive elements of a block
// into 16 int8 lanes q (four packed words) plus a float scale and offset:
//     element k = scale * q[k] + offset
// evaluated as round(round(scale * q[k]) + offset) in fp32 without contraction, which is the
// operation order of the format's reference dequantizer (the `gguf` package), so ggml_dequantize
// gives its bits. The same chunk feeds the integer dot products of the matmuls:
//     sum_k element_k * x_k  =  scale * sum_k q[k] x_k  +  offset * sum_k x_k.
// Every sub-block of every GGML type is 16 or 32 elements wide, so one scale and offset per
// chunk covers them all.

#include <cstdint>
#include <cstring>

#include <torch/headeronly/util/Half.h>

#include "../../../host_device.h"

#if defined(__CUDACC__) || defined(__HIPCC__)
  #define VLLM_OPS_GGUF_TABLE static __device__ const
  // The host pass of a GPU translation unit compiles the host-device decoders too but never runs
  // them; reading a __device__ table there would only draw a warning, so it reads 0.
  #if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
    #define VLLM_OPS_GGUF_LOOKUP(table, i) (table[i])
  #else
    #define VLLM_OPS_GGUF_LOOKUP(table, i) (static_cast<void>(i), 0)
  #endif
#else
  #define VLLM_OPS_GGUF_TABLE static const
  #define VLLM_OPS_GGUF_LOOKUP(table, i) (table[i])
#endif

namespace vllm_ops::gguf {

constexpr int kChunk = 16;

struct Chunk {
  uint32_t w[4];  // 16 int8 lanes, element k in byte k % 4 of w[k / 4]
  float scale;
  float offset;
};

enum class TypeKind { kFloat, kQuant };

// fp32 operations that the compiler must not fuse into an FMA (the reference rounds twice).
VLLM_OPS_HOST_DEVICE float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
VLLM_OPS_HOST_DEVICE float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

VLLM_OPS_HOST_DEVICE float bits_to_float(uint32_t bits) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return __uint_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
#endif
}

// Little-endian loads from a block. kAlign is what the caller guarantees for p (block starts are
// aligned to the largest power of two dividing the block size, at most 4, and every field offset
// used with it is a multiple of it).
template <int kAlign>
VLLM_OPS_HOST_DEVICE uint32_t load_u32(const uint8_t* p) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  if constexpr (kAlign >= 4) {
    return *reinterpret_cast<const uint32_t*>(p);
  } else if constexpr (kAlign == 2) {
    const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
    return h[0] | (static_cast<uint32_t>(h[1]) << 16);
  } else {
    return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
  }
#else
  uint32_t v;
  std::memcpy(&v, p, sizeof v);  // x86-64 and the hosts we build for are little-endian
  return v;
#endif
}

// kWords consecutive little-endian words from p (kAlign-aligned). On the GPU a run that is not
// 4-byte aligned is read as the aligned words covering it, shifted into place: kWords + 1 4-byte
// loads instead of 2 or 4 narrow loads per word (on the H200 the 2-byte-aligned formats' narrow
// loads held ggml_dequantize to 0.6-0.7 of copy, the 4-byte-aligned ones reached 0.9-1.0). The
// covering words stay within the aligned words holding the run's first and last bytes.
template <int kAlign, int kWords>
VLLM_OPS_HOST_DEVICE void load_words(const uint8_t* p, uint32_t (&out)[kWords]) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  if constexpr (kAlign < 4) {
    // Stepped back from p, not masked through an integer: the compiler then still knows which
    // memory p points to (shared memory in the matmul kernels: LDS, not a generic 64-bit load).
    const uint32_t misalign = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p) & 3);
    const auto* base = reinterpret_cast<const uint32_t*>(p - misalign);
    const uint32_t shift = 8 * misalign;
    uint32_t words[kWords + 1];
    for (int j = 0; j < kWords; ++j) words[j] = base[j];
    words[kWords] = base[shift != 0 ? kWords : kWords - 1];  // aligned: the run ends at a word's end
    for (int j = 0; j < kWords; ++j) out[j] = __funnelshift_r(words[j], words[j + 1], shift);
    return;
  }
#endif
  for (int j = 0; j < kWords; ++j) out[j] = load_u32<kAlign>(p + 4 * j);
}

VLLM_OPS_HOST_DEVICE uint32_t load_u16(const uint8_t* p) {  // p is 2-byte aligned
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return *reinterpret_cast<const uint16_t*>(p);
#else
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
#endif
}

VLLM_OPS_HOST_DEVICE float half_bits_to_float(uint32_t bits) {
  return static_cast<float>(
      torch::headeronly::Half(static_cast<unsigned short>(bits), torch::headeronly::Half::from_bits()));
}
VLLM_OPS_HOST_DEVICE float load_half(const uint8_t* p) { return half_bits_to_float(load_u16(p)); }

// E8M0 exponent e as 2^(e - 128): MXFP4's scale with the format's factor 1/2 folded in
// (its element table holds doubled E2M1 values). e < 2 gives fp32 subnormals.
VLLM_OPS_HOST_DEVICE float e8m0_half(uint32_t e) {
  return bits_to_float(e < 2 ? (0x00200000u << e) : ((e - 1) << 23));
}

VLLM_OPS_HOST_DEVICE int popcount8(uint32_t x) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return __popc(x);
#else
  return __builtin_popcount(x);
#endif
}

// Int8 lane k (0-3) of w as a float, exactly. On CUDA the lane, offset by 128, becomes the low
// byte of 2^23's mantissa through one byte permute, and one subtraction of 2^23 + 128 leaves its
// value: I2F issues at a quarter of the fp32 rate on sm_80/sm_90. On the H200 this made the fused
// tensor-core kernel about 4 % faster at 8-16 tokens and left ggml_dequantize unchanged (it was
// L2-bound). HIP and the host convert directly (full rate on AMD). With k known at compile time
// the xor is shared by a word's lanes.
VLLM_OPS_HOST_DEVICE float lane_to_float(uint32_t w, int k) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(__byte_perm(w ^ 0x80808080u, 0x4B000000u, 0x7440u | k)) - 8388736.f;
#else
  return static_cast<float>(static_cast<int8_t>(w >> (8 * k)));
#endif
}

// Bit i of the low 4 bits of x moved to bit 8 * i: one 0/1 flag per byte lane. The multiplier
// has bits 0, 7, 14 and 21, so bit i of x lands on bit i + 7 j for each j: sixteen distinct
// positions (no carries), of which the mask keeps i + 7 i = 8 i. Three instructions.
VLLM_OPS_HOST_DEVICE uint32_t spread4(uint32_t x) { return ((x & 0xFu) * 0x00204081u) & 0x01010101u; }

// Byte lanes holding unsigned kBits-bit values v, as int8 lanes v - 2^(kBits - 1): adding
// 0x80 - 2^(kBits - 1) leaves each lane below 256 (no carry into the next) and at v + 128 minus
// the offset, and flipping bit 7 takes the 128 off again. Two instructions per word.
template <int kBits>
VLLM_OPS_HOST_DEVICE uint32_t centered(uint32_t v) {
  static_assert(kBits >= 1 && kBits <= 7, "lanes of at most 7 bits");
  constexpr uint32_t kBias = 0x01010101u * (0x80u - (1u << (kBits - 1)));
  return (v + kBias) ^ 0x80808080u;
}

// Byte lanes of positive magnitudes g (never 0), negated where the 4-bit mask s has a bit.
VLLM_OPS_HOST_DEVICE uint32_t apply_signs4(uint32_t g, uint32_t s) {
  const uint32_t flags = spread4(s);
  return (g ^ (flags * 0xFFu)) + flags;  // two's complement per lane; g != 0 so no lane carries
}

// GGML's sign byte for a 7-bit index: the index plus a bit 7 that makes the parity even.
VLLM_OPS_HOST_DEVICE uint32_t sign_byte(uint32_t i7) { return i7 | ((popcount8(i7) & 1u) << 7); }

// Four int8 values into one word of byte lanes.
VLLM_OPS_HOST_DEVICE uint32_t pack4(int a, int b, int c, int d) {
  return (a & 0xFF) | ((b & 0xFF) << 8) | ((c & 0xFF) << 16) | (static_cast<uint32_t>(d & 0xFF) << 24);
}

}  // namespace vllm_ops::gguf
