// The GGUF ops for GPU tensors: the shared entry points (gguf_ops_impl.h) instantiated over the
// GPU launcher, and the token count from which ggml_mul_mat_a8 dequantizes and calls the GEMM.

#include "gguf_gpu.h"

namespace vllm_ops {

// Measured on the H200 (benchmarks/bench_gguf.py, K = N = 4096, 7 types): the integer-dot
// kernel's time grows with the tokens of a tile (4 tokens: 22-31 us, 8: 38-65 us, 16: 63-112 us),
// while dequantizing once plus a tensor-core GEMM costs 21-30 us up to 64 tokens. Both scale
// with N * K, so the crossover is a token count: from 8 tokens the GEMM path wins.
int64_t GgufLauncher<GpuBackend>::dequant_gemm_min_tokens(int64_t, int64_t, int64_t, const Tensor&) { return 8; }

template struct GgufOps<GpuBackend>;

}  // namespace vllm_ops
