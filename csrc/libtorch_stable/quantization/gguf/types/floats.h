#pragma once
// Plain floating-point GGML types: one element per "block" (ggml_dequantize only; the matmuls
// take quantized types). decode_bits takes the element's kBlockBytes little-endian bytes as the
// low bits of a word, so a kernel that loads 16 bytes at once decodes from registers.

#include "../gguf_blocks.h"

namespace vllm_ops::gguf::types {

struct F32 {
  static constexpr TypeKind kKind = TypeKind::kFloat;
  static constexpr int kBlockElems = 1, kBlockBytes = 4;
  VLLM_OPS_HOST_DEVICE static float decode_bits(uint32_t bits) { return bits_to_float(bits); }
  VLLM_OPS_HOST_DEVICE static float decode1(const uint8_t* p) { return decode_bits(load_u32<4>(p)); }
};

struct F16 {
  static constexpr TypeKind kKind = TypeKind::kFloat;
  static constexpr int kBlockElems = 1, kBlockBytes = 2;
  VLLM_OPS_HOST_DEVICE static float decode_bits(uint32_t bits) { return half_bits_to_float(bits); }
  VLLM_OPS_HOST_DEVICE static float decode1(const uint8_t* p) { return decode_bits(load_u16(p)); }
};

struct BF16 {
  static constexpr TypeKind kKind = TypeKind::kFloat;
  static constexpr int kBlockElems = 1, kBlockBytes = 2;
  VLLM_OPS_HOST_DEVICE static float decode_bits(uint32_t bits) { return bits_to_float(bits << 16); }
  VLLM_OPS_HOST_DEVICE static float decode1(const uint8_t* p) { return decode_bits(load_u16(p)); }
};

}  // namespace vllm_ops::gguf::types
