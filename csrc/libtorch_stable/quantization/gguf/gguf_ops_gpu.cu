// The GGUF ops for GPU tensors: the shared entry points (gguf_ops_impl.h) instantiated over the
// GPU launcher, and the token counts at which ggml_mul_mat_a8 and ggml_moe_a8 change path.

#include <limits>

#include "gguf_gpu.h"

namespace vllm_ops {

namespace {
bool has_fused_kernel(const Tensor& X) {
#ifdef USE_ROCM
  return false;
#else
  using torch::headeronly::ScalarType;
  return X.scalar_type() == ScalarType::Half || X.scalar_type() == ScalarType::BFloat16;
#endif
}
}  // namespace

// Measured on the H200 (benchmarks/bench_gguf.py, K = N = 4096, 7 types) before the fused kernel:
// the integer-dot kernel's time grows with the tokens of a tile (4 tokens: 22-31 us, 8: 38-65 us,
// 16: 63-112 us), while dequantizing once plus a tensor-core GEMM costs 21-30 us up to 64 tokens;
// so without the fused kernel (fp32 X, ROCm) the GEMM path takes over from 8 tokens.
// With the fused kernel (fp16/bf16 X on CUDA; benchmarks/NOTES.md "Session 10", 5 types): the
// integer-dot kernel wins at 4 tokens (12.7-15.2 us against 25.9-29.2), the fused kernel from 8
// (13.1-17.2 us against 25-34) through 32 (15.7-21.4 us against dequantize + GEMM's 26-32), and
// dequantize + GEMM at 64 (25-30 us against 31-40).
int64_t GgufLauncher<GpuBackend>::dequant_gemm_min_tokens(int64_t, int64_t, int64_t, const Tensor& X) {
  return has_fused_kernel(X) ? 64 : 8;
}

int64_t GgufLauncher<GpuBackend>::fused_min_tokens(const Tensor& X) {
  return has_fused_kernel(X) ? 8 : std::numeric_limits<int64_t>::max();
}

template struct GgufOps<GpuBackend>;

}  // namespace vllm_ops
