#pragma once
// The GPU launcher of the GPTQ ops (CUDA, and HIP when compiled for ROCm), declared once and
// defined across the per-op .cu files: gptq_dequant.cu (W to a dense matrix, and the dense GEMM
// after it), gptq_gemm.cu (the fused kernels and the crossover), gptq_shuffle.cu.

#include "../../../dispatch_utils.h"
#include "../../../gpu_runtime.h"
#include "gptq_ops_impl.h"

namespace vllm_ops {

template <>
struct GptqLauncher<GpuBackend> {
  static void dequantize(const gptq::WeightView& v, Tensor& w);
  static Tensor dense_gemm(const Tensor& a, const Tensor& w);
  static int64_t dequant_gemm_min_rows(const gptq::WeightView& v);
  static void fused_gemm(const Tensor& a, const gptq::WeightView& v, Tensor& out);
  static void permute_rows(const Tensor& src, const Tensor& perm, Tensor& q_weight, int bits);
};

namespace gptq {

// Four columns' scales (one 8-byte load) or outputs.
template <typename T>
struct alignas(4 * sizeof(T)) Quad {
  T v[4];
};

// The words of one pack for four consecutive columns (col % 4 == 0): words[c] is column col + c.
template <class PB>
__device__ __forceinline__ void load_quad_pack(const WeightView& v, int64_t pack, int64_t col,
                                               uint32_t (&words)[4][PB::kWords]) {
#pragma unroll
  for (int j = 0; j < PB::kWords; ++j) {
    const uint4 w = *reinterpret_cast<const uint4*>(v.qweight + (pack * PB::kWords + j) * v.n + col);
    words[0][j] = w.x, words[1][j] = w.y, words[2][j] = w.z, words[3][j] = w.w;
  }
}

// Zero points and scales of four consecutive columns in one group.
template <class PB, typename T>
struct QuadGroup {
  int zero[4];
  float scale[4];

  __device__ __forceinline__ void load(const WeightView& v, int64_t group, int64_t col) {
    const Quad<T> s = *reinterpret_cast<const Quad<T>*>(static_cast<const T*>(v.scales) + group * v.n + col);
    const uint32_t* zeros = v.qzeros + group * (v.n * PB::kWords / 32);
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      zero[c] = zero_point(PB::get_along_row(zeros, col + c), v.v2_zeros);
      scale[c] = static_cast<float>(s.v[c]);
    }
  }
};

}  // namespace gptq
}  // namespace vllm_ops
