// The integer-dot kernels: X quantized to 8-bit runs (gguf_dot.h), then one warp per output row
// walks the row's chunks, decodes each once and takes its dot product with every token of the
// group (up to kMaxTile). The same kernel serves ggml_mul_mat_vec_a8, ggml_mul_mat_a8 below
// the dequantize-and-GEMM crossover, and both MoE ops: the token map says which X rows,
// output rows and expert a group has. Grid: x over groups, so consecutive blocks reuse the same
// weight rows from L2; y over rows.

#include <torch/csrc/stable/accelerator.h>

#include <algorithm>

#include "gguf_gpu.h"

namespace vllm_ops {
namespace {

// 32-lane groups: a CUDA warp, or half of a 64-lane HIP wavefront (shfl_xor stays within it).
constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 4;
// Output rows per warp for a token tile: with two, one x load serves two rows and each lane has
// both rows' weight loads in flight. A/B on the H200 (7 types, 4096 x 4096 and 4096 x 14336,
// against one row per warp): 2 rows took 0.87x the speed at 1 token, 1.12x at 4 tokens, 0.99x at
// 8; 4 rows at 4 and 8 tokens lost (0.84x, 0.98x). So two rows for 4-token tiles only.
constexpr int rows_per_warp(int tile) { return tile == 4 ? 2 : 1; }
constexpr int kQuantThreads = 256;

template <typename T>
__global__ void quantize_runs_kernel(const T* __restrict__ x, int8_t* __restrict__ codes, float* __restrict__ scales,
                                     int64_t runs) {
  // One warp per 32-element run: lane i holds element i.
  const int lane = threadIdx.x % kWarp;
  for (int64_t r = (blockIdx.x * int64_t{kQuantThreads} + threadIdx.x) / kWarp; r < runs;
       r += int64_t{gridDim.x} * kQuantThreads / kWarp) {
    const float v = static_cast<float>(x[r * gguf::kQ8Block + lane]);
    float amax = fabsf(v);
#pragma unroll
    for (int off = kWarp / 2; off > 0; off /= 2) amax = fmaxf(amax, shfl_xor(amax, off));
    const float scale = gguf::q8_scale(amax);
    codes[r * gguf::kQ8Block + lane] = static_cast<int8_t>(gguf::q8_code(v, scale));
    if (lane == 0) scales[r] = scale;
  }
}

__device__ __forceinline__ void store_out(void* out, gguf::OutDtype dtype, int64_t i, float v) {
  switch (dtype) {
    case gguf::OutDtype::kFloat: static_cast<float*>(out)[i] = v; break;
    case gguf::OutDtype::kHalf: static_cast<c10::Half*>(out)[i] = c10::Half(v); break;
    case gguf::OutDtype::kBFloat16: static_cast<c10::BFloat16*>(out)[i] = c10::BFloat16(v); break;
  }
}

template <class Traits, int kTile, int kRows>
__global__ void __launch_bounds__(kWarp * kWarpsPerBlock)
dot_kernel(const uint8_t* __restrict__ w, int64_t expert_bytes, int64_t row_bytes, int n,
           const int8_t* __restrict__ codes, const float* __restrict__ scales, int k, gguf::TokenMap map,
           void* __restrict__ out, gguf::OutDtype out_dtype) {
  const int row0 = (blockIdx.y * kWarpsPerBlock + threadIdx.x / kWarp) * kRows;
  const int lane = threadIdx.x % kWarp;
  if (row0 >= n) return;
  const gguf::GroupEntries e = gguf::resolve_group(map, blockIdx.x);
  if (e.count == 0) return;
  const uint8_t* wrow0 = w + e.expert * expert_bytes + row0 * row_bytes;
  const int chunks = k / gguf::kChunk, runs = k / gguf::kQ8Block;
  constexpr int kChunksPerBlock = Traits::kBlockElems / gguf::kChunk;

  float acc[kRows][kTile];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int t = 0; t < kTile; ++t) acc[r][t] = 0.f;

#pragma unroll 2
  for (int c = lane; c < chunks; c += kWarp) {
    uint32_t xw[kTile][4];
    float xs[kTile];
#pragma unroll
    for (int t = 0; t < kTile; ++t) {
      if (t < e.count) {
        const uint4 xv = *reinterpret_cast<const uint4*>(codes + e.x_row[t] * k + c * gguf::kChunk);
        xw[t][0] = xv.x, xw[t][1] = xv.y, xw[t][2] = xv.z, xw[t][3] = xv.w;
        xs[t] = scales[e.x_row[t] * runs + c / 2];
      }
    }
    const int64_t offset = (c / kChunksPerBlock) * Traits::kBlockBytes;
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (row0 + r < n) {
        gguf::Chunk ch;
        Traits::decode(wrow0 + r * row_bytes + offset, c % kChunksPerBlock, ch);
#pragma unroll
        for (int t = 0; t < kTile; ++t)
          if (t < e.count) acc[r][t] += xs[t] * gguf::chunk_dot<Traits>(ch, xw[t]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int t = 0; t < kTile; ++t) {
      float v = acc[r][t];
#pragma unroll
      for (int off = kWarp / 2; off > 0; off /= 2) v += shfl_xor(v, off);
      if (lane == 0 && t < e.count && row0 + r < n) store_out(out, out_dtype, e.out_row[t] * n + row0 + r, v);
    }
  }
}

template <class Traits, int kTile>
void launch_dot(const uint8_t* w, int64_t expert_bytes, int64_t row_bytes, int n, const int8_t* codes,
                const float* scales, int k, const gguf::TokenMap& map, void* out, gguf::OutDtype dtype,
                gpuStream_t stream) {
  constexpr int kRows = rows_per_warp(kTile);
  constexpr int kRowsPerBlock = kWarpsPerBlock * kRows;
  const dim3 grid(static_cast<unsigned>(map.groups), static_cast<unsigned>((n + kRowsPerBlock - 1) / kRowsPerBlock));
  dot_kernel<Traits, kTile, kRows><<<grid, kWarp * kWarpsPerBlock, 0, stream>>>(w, expert_bytes, row_bytes, n, codes,
                                                                                 scales, k, map, out, dtype);
}

}  // namespace

void GgufLauncher<GpuBackend>::quantize_activations(const Tensor& X, Tensor& codes, Tensor& scales) {
  const int device = X.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const gpuStream_t stream = current_gpu_stream(device);
  const int64_t runs = X.numel() / gguf::kQ8Block;
  const int64_t max_blocks = int64_t{multiprocessor_count(device)} * (2048 / kQuantThreads) * 4;
  const unsigned blocks = static_cast<unsigned>(
      std::min<int64_t>(max_blocks, (runs * gguf::kQ8Block + kQuantThreads - 1) / kQuantThreads));
  VLLM_OPS_DISPATCH_FLOATING_TYPES(X.scalar_type(), "ggml quantize activations", [&] {
    quantize_runs_kernel<scalar_t><<<blocks, kQuantThreads, 0, stream>>>(
        static_cast<const scalar_t*>(X.const_data_ptr()), static_cast<int8_t*>(codes.mutable_data_ptr()),
        static_cast<float*>(scales.mutable_data_ptr()), runs);
  });
  VLLM_OPS_GPU_CHECK(gpuGetLastError());
}

void GgufLauncher<GpuBackend>::dot(const Tensor& W, int64_t type, const Tensor& codes, const Tensor& scales,
                                   const gguf::TokenMap& map, Tensor& out) {
  const int device = W.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const gpuStream_t stream = current_gpu_stream(device);
  TORCH_UTILS_CHECK(W.size(1) < (int64_t{1} << 31) && codes.size(1) < (int64_t{1} << 31),
                    "ggml matmul: row and K must be below 2^31");
  const int n = static_cast<int>(W.size(1)), k = static_cast<int>(codes.size(1));
  const int64_t row_bytes = W.size(2), expert_bytes = W.size(1) * W.size(2);
  const auto* w = static_cast<const uint8_t*>(W.const_data_ptr());
  const auto* q = static_cast<const int8_t*>(codes.const_data_ptr());
  const auto* s = static_cast<const float*>(scales.const_data_ptr());
  const gguf::OutDtype dtype = gguf::out_dtype_of(out);
  void* o = out.mutable_data_ptr();
  gguf::dispatch_type<true>("ggml matmul", type, [&](auto traits) {
    using Traits = decltype(traits);
    switch (map.tile) {
      case 1: launch_dot<Traits, 1>(w, expert_bytes, row_bytes, n, q, s, k, map, o, dtype, stream); break;
      case 2: launch_dot<Traits, 2>(w, expert_bytes, row_bytes, n, q, s, k, map, o, dtype, stream); break;
      case 4: launch_dot<Traits, 4>(w, expert_bytes, row_bytes, n, q, s, k, map, o, dtype, stream); break;
      default: launch_dot<Traits, gguf::kMaxTile>(w, expert_bytes, row_bytes, n, q, s, k, map, o, dtype, stream);
    }
  });
  VLLM_OPS_GPU_CHECK(gpuGetLastError());
}

}  // namespace vllm_ops
