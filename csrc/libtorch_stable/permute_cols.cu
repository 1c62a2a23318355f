// permute_cols (CUDA-only, registered under the CUDA fence): out[:, j] = A[:, perm[j]] for a
// row-major fp16/bf16 A. Two kernels:
// - row-staged (the usual case: rows of whole 16-byte vectors, at least one row per SM, two rows
//   that fit in a block's shared memory, sm_80+): a block copies a row into shared memory with
//   16-byte cp.async copies, then each thread gathers eight outputs from there and writes them
//   as one 16-byte store, while the block's next row is being copied. HBM sees one streaming
//   read and one streaming write of A's size. Gathering straight from global memory instead
//   (the other kernel) reached 0.27 of copy at 8192 x 14336 on the H200: a 28 KB row no longer
//   stays in L1 while its gathers run.
// - gathering: each thread gathers its eight outputs (or one, for rows that are not whole
//   vectors) from global memory; for few rows, where a block per row would leave SMs idle.
// An entry of perm outside [0, K) gives 0 in its column: the kernel cannot raise, and checking
// perm on the host would cost a device round trip per call (and break graph capture).

#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/ops.h>

#include <algorithm>

#include "../dispatch_utils.h"
#include "../gpu_mma.h"
#include "../gpu_runtime.h"
#include "ops.h"
#include "tensor_checks.h"

namespace vllm_ops {
namespace {

constexpr int kThreads = 256;
constexpr int kPerThread = 8;

template <typename T>
__device__ __forceinline__ T gather(const T* row, int64_t k, int32_t from) {
  return from >= 0 && from < k ? row[from] : T(0.f);
}

template <typename T, bool kVectors>
__global__ void __launch_bounds__(kThreads)
permute_cols_kernel(const T* __restrict__ a, const int32_t* __restrict__ perm, T* __restrict__ out, int64_t m,
                    int64_t k) {
  const int64_t per_row = kVectors ? k / kPerThread : k;
  const int64_t items = m * per_row;
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < items; i += int64_t{gridDim.x} * kThreads) {
    const int64_t r = i / per_row, c = i % per_row;
    const T* row = a + r * k;
    if constexpr (kVectors) {
      alignas(16) T v[kPerThread];
#pragma unroll
      for (int j = 0; j < kPerThread; ++j) v[j] = gather(row, k, perm[c * kPerThread + j]);
      *reinterpret_cast<uint4*>(out + r * k + c * kPerThread) = *reinterpret_cast<const uint4*>(v);
    } else {
      out[r * k + c] = gather(row, k, perm[c]);
    }
  }
}

// The eight perm entries of output vector v; perm read as two 16-byte words where it is aligned.
template <bool kPermVectors>
__device__ __forceinline__ void load_perm8(const int32_t* __restrict__ perm, int64_t v, int32_t (&from)[kPerThread]) {
  if constexpr (kPermVectors) {
    const int4 lo = __ldg(reinterpret_cast<const int4*>(perm) + 2 * v);
    const int4 hi = __ldg(reinterpret_cast<const int4*>(perm) + 2 * v + 1);
    from[0] = lo.x, from[1] = lo.y, from[2] = lo.z, from[3] = lo.w;
    from[4] = hi.x, from[5] = hi.y, from[6] = hi.z, from[7] = hi.w;
  } else {
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) from[j] = __ldg(perm + v * kPerThread + j);
  }
}

// One row per block at a time, rows round-robin over the grid, two rows in shared memory: while
// the block gathers from one, the next one's copies (cp.async, sm_80+) are in flight, so the
// SM's loads do not stop at each row's barrier.
template <typename T, bool kPermVectors>
__global__ void __launch_bounds__(kThreads)
permute_cols_row_staged_kernel(const T* __restrict__ a, const int32_t* __restrict__ perm, T* __restrict__ out,
                               int64_t m, int64_t k) {
  extern __shared__ uint4 staged[];  // [2][k / kPerThread]
  const int64_t vectors = k / kPerThread;
  auto stage_row = [&](int64_t r, int buffer) {
    if (r < m) {
      const uint4* row = reinterpret_cast<const uint4*>(a + r * k);
      for (int64_t v = threadIdx.x; v < vectors; v += kThreads) copy_async<16>(staged + buffer * vectors + v, row + v, true);
    }
    commit_async();  // also when empty, so that wait_async<1> below always means "row r landed"
  };
  stage_row(blockIdx.x, 0);
  int buffer = 0;
  for (int64_t r = blockIdx.x; r < m; r += gridDim.x, buffer ^= 1) {
    stage_row(r + gridDim.x, buffer ^ 1);  // that buffer was last read before the barrier ending the previous row
    wait_async<1>();
    __syncthreads();
    const T* row = reinterpret_cast<const T*>(staged + buffer * vectors);
    uint4* out_row = reinterpret_cast<uint4*>(out + r * k);
    for (int64_t v = threadIdx.x; v < vectors; v += kThreads) {
      int32_t from[kPerThread];
      load_perm8<kPermVectors>(perm, v, from);
      alignas(16) T gathered[kPerThread];
#pragma unroll
      for (int j = 0; j < kPerThread; ++j) gathered[j] = gather(row, k, from[j]);
      out_row[v] = *reinterpret_cast<const uint4*>(gathered);
    }
    __syncthreads();
  }
  wait_async<0>();
}

}  // namespace

Tensor permute_cols(const Tensor& A, const Tensor& perm) {
  using torch::headeronly::ScalarType;
  constexpr const char* op = "permute_cols";
  check_dtype_in(op, "A", A, {ScalarType::Half, ScalarType::BFloat16});
  TORCH_UTILS_CHECK(A.dim() == 2, op, ": A must be 2-D [M, K], got shape ", shape_str(A));
  check_contiguous(op, "A", A);
  TORCH_UTILS_CHECK(A.is_cuda(), op, ": A must be a CUDA tensor, got ", device_str(A.device()));
  check_dtype_in(op, "perm", perm, {ScalarType::Int});
  TORCH_UTILS_CHECK(perm.dim() == 1 && perm.size(0) == A.size(1), op, ": perm must be 1-D of length K = ",
                    A.size(1), ", got shape ", shape_str(perm));
  check_contiguous(op, "perm", perm);
  check_same_device(op, "perm", perm, "A", A);
  const int64_t m = A.size(0), k = A.size(1);
  Tensor out = torch::stable::new_empty(A, {m, k});
  if (m == 0 || k == 0) return out;
  const int device = A.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const gpuStream_t stream = current_gpu_stream(device);
  // Rows of whole 16-byte vectors (A's start too; out is new, so aligned).
  const bool vectors = k % kPerThread == 0 && is_aligned(A.const_data_ptr(), 16);
  const int64_t items = vectors ? m * k / kPerThread : m * k;
  const int sms = multiprocessor_count(device);
  const int64_t max_blocks = int64_t{sms} * (2048 / kThreads) * 4;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>(max_blocks, (items + kThreads - 1) / kThreads));
  // Two rows must fit in a block's shared memory (K up to 58112 on the H200); cp.async needs sm_80.
  const int64_t staged_bytes = 2 * k * 2;
  const bool row_staged = vectors && m >= sms && compute_capability_major(device) >= 8 &&
                          staged_bytes <= cached_device_attribute<cudaDevAttrMaxSharedMemoryPerBlockOptin>(device);
  const bool perm_vectors = is_aligned(perm.const_data_ptr(), 16);
  dispatch_half_types(A.scalar_type(), [&](auto dtype_tag) {
    using scalar_t = decltype(dtype_tag);
    const auto* a = static_cast<const scalar_t*>(A.const_data_ptr());
    const auto* p = static_cast<const int32_t*>(perm.const_data_ptr());
    auto* o = static_cast<scalar_t*>(out.mutable_data_ptr());
    if (row_staged) {
      auto launch = [&](auto kernel) {
        const int smem = static_cast<int>(staged_bytes);
        VLLM_OPS_GPU_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
        // As many resident blocks as shared memory and registers allow on every SM, no more
        // than there are rows.
        int per_sm = 0;
        VLLM_OPS_GPU_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem));
        const auto grid = static_cast<unsigned>(std::min<int64_t>(m, int64_t{sms} * std::max(per_sm, 1)));
        kernel<<<grid, kThreads, smem, stream>>>(a, p, o, m, k);
      };
      if (perm_vectors) {
        launch(permute_cols_row_staged_kernel<scalar_t, true>);
      } else {
        launch(permute_cols_row_staged_kernel<scalar_t, false>);
      }
    } else if (vectors) {
      permute_cols_kernel<scalar_t, true><<<blocks, kThreads, 0, stream>>>(a, p, o, m, k);
    } else {
      permute_cols_kernel<scalar_t, false><<<blocks, kThreads, 0, stream>>>(a, p, o, m, k);
    }
  });
  VLLM_OPS_GPU_CHECK(gpuGetLastError());
  return out;
}

}  // namespace vllm_ops
