#pragma once
// Plain floating-point GGML types: one element per "block", decoded one at a time
// (ggml_dequantize only; the matmuls take quantized types).

#include "../gguf_blocks.h"

namespace vllm_ops::gguf::types {

struct F32 {
  static constexpr TypeKind kKind = TypeKind::kFloat;
  static constexpr int kBlockElems = 1, kBlockBytes = 4;
  VLLM_OPS_HOST_DEVICE static float decode1(const uint8_t* p) { return bits_to_float(load_u32<4>(p)); }
};

struct F16 {
  static constexpr TypeKind kKind = TypeKind::kFloat;
  static constexpr int kBlockElems = 1, kBlockBytes = 2;
  VLLM_OPS_HOST_DEVICE static float decode1(const uint8_t* p) { return load_half(p); }
};

struct BF16 {
  static constexpr TypeKind kKind = TypeKind::kFloat;
  static constexpr int kBlockElems = 1, kBlockBytes = 2;
  VLLM_OPS_HOST_DEVICE static float decode1(const uint8_t* p) { return bits_to_float(load_u16(p) << 16); }
};

}  // namespace vllm_ops::gguf::types
