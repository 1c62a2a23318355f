// The GGUF ops for GPU tensors: the shared entry points (gguf_ops_impl.h) instantiated over the
// GPU launcher, and the token count from which ggml_mul_mat_a8 dequantizes and calls the GEMM.

#include "gguf_gpu.h"

namespace vllm_ops {

// Below the crossover the integer-dot kernel reads the weights once per 8 tokens (from L2 after
// the first tile); above it, one dequantization plus a tensor-core GEMM costs less
// (benchmarks/bench_gguf.py measures both paths; notes in benchmarks/NOTES.md).
int64_t GgufLauncher<GpuBackend>::dequant_gemm_min_tokens(int64_t, int64_t, int64_t, const Tensor&) { return 32; }

template struct GgufOps<GpuBackend>;

}  // namespace vllm_ops
