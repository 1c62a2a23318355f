// AWQ on CUDA (a CUDA-only family: CMake lists this file for the cuda target only and
// torch_bindings.cpp registers it under the CUDA fence). awq_dequantize: one thread per packed
// word, eight outputs written as one 16-byte store. awq_gemm: the weights dequantized once in the
// activations' dtype, then torch's matmul (cuBLAS, tensor cores) for every M; a fused kernel for
// few rows is not written yet.
//
// split_k_iters, thx and thy are vLLM's launch parameters (K split into split_k_iters partial
// products; the dequantize kernel's block shape; vLLM's Python passes 0, 0, 0 to
// awq_dequantize and 8 to awq_gemm). Results here do not depend on them; they are checked for
// range and otherwise unused.

#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/ops.h>

#include <algorithm>

#include "../../../dispatch_utils.h"
#include "../../../gpu_runtime.h"
#include "../../ops.h"
#include "../../tensor_checks.h"
#include "awq_pack.h"

namespace vllm_ops {
namespace {

using torch::headeronly::ScalarType;

constexpr int kThreads = 256;

struct AwqShape {
  int64_t k, n, groups, group_size;
};

// The checkpoint tensors (awq_pack.h), on one CUDA device.
AwqShape check_weights(const char* op, const Tensor& qweight, const Tensor& scales, const Tensor& qzeros) {
  auto int_matrix = [&](const char* arg, const Tensor& t) {
    check_dtype_in(op, arg, t, {ScalarType::Int});
    TORCH_UTILS_CHECK(t.dim() == 2, op, ": ", arg, " must be 2-D, got shape ", shape_str(t));
    check_contiguous(op, arg, t);
  };
  int_matrix("_kernel", qweight);
  TORCH_UTILS_CHECK(qweight.is_cuda(), op, ": _kernel must be a CUDA tensor, got ", device_str(qweight.device()));
  int_matrix("_zeros", qzeros);
  check_same_device(op, "_zeros", qzeros, "_kernel", qweight);
  check_dtype_in(op, "_scaling_factors", scales, {ScalarType::Half, ScalarType::BFloat16});
  check_contiguous(op, "_scaling_factors", scales);
  check_same_device(op, "_scaling_factors", scales, "_kernel", qweight);
  const int64_t k = qweight.size(0), n = qweight.size(1) * awq::kPack, groups = qzeros.size(0);
  TORCH_UTILS_CHECK(groups >= 1 && qzeros.size(1) == qweight.size(1), op,
                    ": _zeros must be [groups >= 1, N / 8 = ", qweight.size(1), "], got shape ", shape_str(qzeros));
  TORCH_UTILS_CHECK(scales.dim() == 2 && scales.size(0) == groups && scales.size(1) == n, op,
                    ": _scaling_factors must be [groups = ", groups, ", N = ", n,
                    "] (groups from _zeros, N from _kernel), got shape ", shape_str(scales));
  TORCH_UTILS_CHECK(k % groups == 0, op, ": K (", k, ", the rows of _kernel) must be a multiple of the ", groups,
                    " groups of _zeros");
  return {k, n, groups, k / groups};
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
dequant_kernel(const uint32_t* __restrict__ qweight, const uint32_t* __restrict__ qzeros, const T* __restrict__ scales,
               T* __restrict__ out, int64_t words, int64_t words_per_row, int64_t group_size) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < words; i += int64_t{gridDim.x} * kThreads) {
    const int64_t row = i / words_per_row, word = i % words_per_row, group = row / group_size;
    const uint32_t q = qweight[i], z = qzeros[group * words_per_row + word];
    const T* s = scales + (group * words_per_row + word) * awq::kPack;
    alignas(16) T v[awq::kPack];
#pragma unroll
    for (int j = 0; j < awq::kPack; ++j)
      v[j] = static_cast<T>(awq::dequant(awq::unpack(q, j), awq::unpack(z, j), static_cast<float>(s[j])));
    *reinterpret_cast<uint4*>(out + i * awq::kPack) = *reinterpret_cast<const uint4*>(v);
  }
}

// W [K, N] in the scales' dtype.
Tensor dequantize(const Tensor& qweight, const Tensor& scales, const Tensor& qzeros, const AwqShape& shape) {
  Tensor w = torch::stable::new_empty(scales, {shape.k, shape.n});
  const int64_t words = qweight.numel();
  if (words == 0) return w;
  const int device = qweight.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const gpuStream_t stream = current_gpu_stream(device);
  const int64_t max_blocks = int64_t{multiprocessor_count(device)} * (2048 / kThreads) * 4;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>(max_blocks, (words + kThreads - 1) / kThreads));
  dispatch_half_types(scales.scalar_type(), [&](auto dtype_tag) {
    using scalar_t = decltype(dtype_tag);
    dequant_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
        static_cast<const uint32_t*>(qweight.const_data_ptr()), static_cast<const uint32_t*>(qzeros.const_data_ptr()),
        static_cast<const scalar_t*>(scales.const_data_ptr()), static_cast<scalar_t*>(w.mutable_data_ptr()), words,
        qweight.size(1), shape.group_size);
  });
  VLLM_OPS_GPU_CHECK(gpuGetLastError());
  return w;
}

}  // namespace

Tensor awq_dequantize(const Tensor& qweight, const Tensor& scales, const Tensor& qzeros, int64_t split_k_iters,
                      int64_t thx, int64_t thy) {
  constexpr const char* op = "awq_dequantize";
  const AwqShape shape = check_weights(op, qweight, scales, qzeros);
  TORCH_UTILS_CHECK(split_k_iters >= 0 && thx >= 0 && thy >= 0, op,
                    ": split_k_iters, thx and thy must be >= 0 (vLLM passes 0, 0, 0), got ", split_k_iters, ", ", thx,
                    ", ", thy);
  return dequantize(qweight, scales, qzeros, shape);
}

Tensor awq_gemm(const Tensor& in_feats, const Tensor& qweight, const Tensor& scales, const Tensor& qzeros,
                int64_t split_k_iters) {
  constexpr const char* op = "awq_gemm";
  const AwqShape shape = check_weights(op, qweight, scales, qzeros);
  TORCH_UTILS_CHECK(split_k_iters >= 1, op, ": split_k_iters must be >= 1, got ", split_k_iters);
  check_same_dtype(op, "_in_feats", in_feats, "_scaling_factors", scales);
  check_same_device(op, "_in_feats", in_feats, "_kernel", qweight);
  TORCH_UTILS_CHECK(in_feats.dim() == 2 && in_feats.size(1) == shape.k, op, ": _in_feats must be 2-D [M, K = ",
                    shape.k, "] (K from _kernel), got shape ", shape_str(in_feats));
  check_contiguous(op, "_in_feats", in_feats);
  const Tensor w = dequantize(qweight, scales, qzeros, shape);
  return torch::stable::matmul(in_feats, w);
}

}  // namespace vllm_ops
