#pragma once
// The GPU launcher of the GGUF ops (CUDA, and HIP when compiled for ROCm), declared once and
// defined across the per-kernel .cu files: gguf_dequant.cu (dequantize), gguf_mmvq.cu (the
// integer-dot kernels behind mat-vec, few-token mat-mat and both MoE ops), gguf_mma.cu (the fused
// tensor-core kernel behind mat-mat and ggml_moe_a8 from a few tokens), gguf_ops_gpu.cu
// (the op instantiation and the mat-mat crossover).

#include "../../../dispatch_utils.h"
#include "../../../gpu_runtime.h"
#include "gguf_ops_impl.h"

namespace vllm_ops {

template <>
struct GgufLauncher<GpuBackend> {
  static void dequantize(const Tensor& W, int64_t type, Tensor& out);
  static void quantize_activations(const Tensor& X, Tensor& codes, Tensor& scales);
  static void dot(const Tensor& W, int64_t type, const Tensor& codes, const Tensor& scales,
                  const gguf::TokenMap& map, Tensor& out);
  static int64_t dequant_gemm_min_tokens(int64_t type, int64_t n, int64_t k, const Tensor& X);
  static bool fused_matmul(const Tensor& W, int64_t type, const Tensor& X, const gguf::TokenMap& map,
                           int64_t groups_in_use, Tensor& out);
  static int64_t fused_min_tokens(const Tensor& X);
};

namespace gguf {

// Output element stores with the dtype chosen at run time (one kernel serves all three).
enum class OutDtype : int { kFloat, kHalf, kBFloat16 };

inline OutDtype out_dtype_of(const Tensor& t) {
  using torch::headeronly::ScalarType;
  switch (t.scalar_type()) {
    case ScalarType::Float: return OutDtype::kFloat;
    case ScalarType::Half: return OutDtype::kHalf;
    case ScalarType::BFloat16: return OutDtype::kBFloat16;
    default: TORCH_UTILS_CHECK(false, "gguf: unsupported output dtype ", torch::headeronly::toString(t.scalar_type()));
  }
  return OutDtype::kFloat;
}

}  // namespace gguf
}  // namespace vllm_ops
