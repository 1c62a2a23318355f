#pragma once
// The GPU launcher of the GGUF ops (CUDA, and HIP when compiled for ROCm), declared once and
// defined across the per-kernel .cu files: gguf_dequant.cu (dequantize), gguf_mmvq.cu (the
// integer-dot kernels behind mat-vec, small-batch mat-mat and both MoE ops), gguf_ops_gpu.cu
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

// A contiguous byte range of W moved into shared memory with 16-byte loads. GGUF blocks are
// 17 to 210 bytes and at most 4-byte aligned, so reading a block's fields where it lies takes 2-
// and 4-byte loads, too few bytes in flight per thread to reach HBM bandwidth (the mat-vec at one
// token reached 0.25-0.60 of copy that way). Staging loads the 16-byte vectors covering the range
// instead, whatever the layout: `fetch` issues the loads into registers, `store` writes them to
// the stage once they are needed, so a caller fetches step s + 1 while it decodes step s. The
// range may start and end anywhere: the covering vectors stay within the 16-byte granules that
// hold its first and last bytes, and `offset` says where the range begins in the stage.
constexpr int staged_vecs(int bytes) { return (bytes + 15) / 16 + 1; }  // covering any range of `bytes`

template <int kThreads, int kVecsPerThread>
struct StagedBytes {
  static constexpr int kCapacity = kThreads * kVecsPerThread;  // 16-byte vectors in a stage
  uint4 held[kVecsPerThread];
  const uint4* first = nullptr;
  int vecs = 0;

  __device__ __forceinline__ void fetch(const uint8_t* begin, const uint8_t* end, int thread) {
    const auto lo = reinterpret_cast<uintptr_t>(begin) & ~uintptr_t{15};
    const auto hi = (reinterpret_cast<uintptr_t>(end) + 15) & ~uintptr_t{15};
    first = reinterpret_cast<const uint4*>(lo);
    vecs = static_cast<int>((hi - lo) / 16);
#pragma unroll
    for (int v = 0; v < kVecsPerThread; ++v) {
      const int i = v * kThreads + thread;
      if (i < vecs) held[v] = first[i];
    }
  }
  __device__ __forceinline__ void store(uint4* stage, int thread) const {
#pragma unroll
    for (int v = 0; v < kVecsPerThread; ++v) {
      const int i = v * kThreads + thread;
      if (i < vecs) stage[i] = held[v];
    }
  }
  __device__ static int offset(const uint8_t* begin) { return static_cast<int>(reinterpret_cast<uintptr_t>(begin) & 15); }
};

}  // namespace gguf
}  // namespace vllm_ops
