// AWQ on CUDA (a CUDA-only family: CMake lists this file for the cuda target only and
// torch_bindings.cpp registers it under the CUDA fence). awq_dequantize: one thread per packed
// word, eight outputs written as one 16-byte store. awq_gemm:
// - few rows: fused kernels read each packed word once and multiply its eight weights, rounded to
//   the activations' dtype exactly as awq_dequantize rounds them, by the rows of X with fp32
//   accumulation (so they compute what the path below does, up to the order of fp32 additions).
//   Dequantizing first writes and re-reads 2 bytes per weight where the packed weight is half a
//   byte; at M = 1, 4096 x 14336 that path took 2.4x vLLM's time (benchmarks/NOTES.md).
//   - tensor cores (sm_80+, 2 <= M <= kMmaRowsMax, N a multiple of 64): mma.sync m16n8k16;
//   - CUDA cores: M = 1, and M <= kFewRowsMax where the first does not apply (other N, sm_75).
// - more rows: the weights dequantized once in the activations' dtype, then torch's matmul
//   (cuBLAS, tensor cores).
//
// split_k_iters, thx and thy are vLLM's launch parameters (K split into split_k_iters partial
// products; the dequantize kernel's block shape; vLLM's Python passes 0, 0, 0 to
// awq_dequantize and 8 to awq_gemm). Results here do not depend on them; they are checked for
// range and otherwise unused.

#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/ops.h>

#include <algorithm>
#include <type_traits>

#include "../../../dispatch_utils.h"
#include "../../../gpu_mma.h"
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

// The few-row kernel. Lane j of a warp owns packed word column c = blockIdx.x * 32 + j (output
// columns 8c .. 8c + 7); the block's 8 warps split the block's range of K (grid.y splits K across
// blocks) in runs of kRun rows, which lie in one group (the group size is a multiple of kRun).
// Per run a lane issues its kRun word loads at once (32 consecutive words per warp: one 128-byte
// line per row). The warps' sums are added in shared memory in warp order, and the splits' sums
// by awq_sum_splits_kernel in split order: results do not depend on timing.
constexpr int kRun = 8;
constexpr int kFewWarps = 8;
constexpr int kFewTile = 4;  // rows of X per pass over the weights (a pass of 8 spilled registers)
// The crossover to dequantize + matmul, measured on the H200 (benchmarks/NOTES.md, session 16):
// 4096 x 4096: 25.6 us fused at M = 8, 26.8 us dequantize + matmul at 33; 4096 x 14336: 78 against
// 83. The fused time grows with M (every row of X costs 8 FMAs per packed word), the other not.
constexpr int kFewRowsMax = 8;

// The weights of packed words, as both fused kernels compute them: (q - zero) * scale rounded
// once to T (awq::dequant). Nibbles i and i + 4 hold columns 2i and 2i + 1 (awq_pack.h); masked
// into the low mantissa bits of 1024 (fp16) or 128 (bf16) they become the exact values
// 1024 + q, 128 + q in one mask-and-or per pair, their difference with the zero point's is the
// exact small integer q - zero, and one multiply rounds the exact product once, as rounding the
// (exact) float product does.
template <typename T>
struct HalfPairs {
  static constexpr bool kHalf = TensorCore<T>::kHalf;
  static constexpr uint32_t kMagic = kHalf ? 0x64006400u : 0x43004300u;
  __device__ static uint32_t biased(uint32_t word, int pair) { return ((word >> (4 * pair)) & 0x000F000Fu) | kMagic; }
  __device__ static uint32_t weights(uint32_t q_biased, uint32_t zero_biased, uint32_t scale) {
    if constexpr (kHalf) {
      return bits_as<uint32_t>(
          __hmul2(__hsub2(bits_as<__half2>(q_biased), bits_as<__half2>(zero_biased)), bits_as<__half2>(scale)));
    } else {
      return bits_as<uint32_t>(__hmul2(__hsub2(bits_as<__nv_bfloat162>(q_biased), bits_as<__nv_bfloat162>(zero_biased)),
                                       bits_as<__nv_bfloat162>(scale)));
    }
  }
  __device__ static float2 to_float2(uint32_t pair) {
    if constexpr (kHalf) return __half22float2(bits_as<__half2>(pair));
    else return __bfloat1622float2(bits_as<__nv_bfloat162>(pair));
  }
};

// A group's zero points and scales for one packed word column, as HalfPairs takes them.
template <typename T>
struct GroupConsts {
  uint32_t zero_pairs[awq::kPack / 2];   // columns 2i and 2i + 1, biased
  uint32_t scale_pairs[awq::kPack / 2];  // the scales of columns 2i and 2i + 1
  __device__ __forceinline__ void load(const uint32_t* qzeros, const T* scales, int64_t at_word) {
    const uint32_t zero_word = __ldg(qzeros + at_word);
    const uint4 raw = __ldg(reinterpret_cast<const uint4*>(scales + at_word * awq::kPack));
    const uint32_t s[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < awq::kPack / 2; ++i) {
      zero_pairs[i] = HalfPairs<T>::biased(zero_word, i);
      scale_pairs[i] = s[i];
    }
  }
};

template <typename T>
__device__ __forceinline__ void word_weights(uint32_t q_word, const GroupConsts<T>& g, float (&w)[awq::kPack]) {
  using H = HalfPairs<T>;
#pragma unroll
  for (int i = 0; i < awq::kPack / 2; ++i) {
    const float2 f = H::to_float2(H::weights(H::biased(q_word, i), g.zero_pairs[i], g.scale_pairs[i]));
    w[2 * i] = f.x, w[2 * i + 1] = f.y;
  }
}

template <typename T, int kTile>
__global__ void __launch_bounds__(kFewWarps * 32, 2)
awq_few_rows_kernel(const T* __restrict__ x, int m, const uint32_t* __restrict__ qweight,
                    const uint32_t* __restrict__ qzeros, const T* __restrict__ scales, int k, int64_t words,
                    int group_size, int runs_per_split, T* __restrict__ out, float* __restrict__ partial) {
  __shared__ float warp_sums[kFewWarps - 1][32][awq::kPack];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t c = int64_t{blockIdx.x} * 32 + lane;
  const bool owns = c < words;
  const uint32_t* column = qweight + (owns ? c : 0);  // lanes past N read column 0 and write nothing
  const int split_first = blockIdx.y * runs_per_split;
  const int split_end = min(k / kRun, split_first + runs_per_split);
  float acc[kTile][awq::kPack];
#pragma unroll
  for (int t = 0; t < kTile; ++t)
#pragma unroll
    for (int j = 0; j < awq::kPack; ++j) acc[t][j] = 0.f;

  // Two runs of words in flight per lane: the next run's loads go out before this one's math.
  auto load_run = [&](int run, uint32_t (&q)[kRun]) {
    if (run < split_end) {
#pragma unroll
      for (int r = 0; r < kRun; ++r) q[r] = __ldg(column + int64_t{run * kRun + r} * words);
    }
  };
  GroupConsts<T> consts;
  int group_end = 0;  // the first row past the group whose constants are loaded
  uint32_t q[kRun];
  load_run(split_first + warp, q);
  for (int run = split_first + warp; run < split_end; run += kFewWarps) {
    uint32_t next[kRun];
    load_run(run + kFewWarps, next);
    const int k0 = run * kRun;
    if (k0 >= group_end) {
      const int group = k0 / group_size;
      group_end = (group + 1) * group_size;
      consts.load(qzeros, scales, group * words + (owns ? c : 0));
    }
    uint4 xv[kTile];  // the run's X values: one 16-byte load per row of X, the same for every lane
#pragma unroll
    for (int t = 0; t < kTile; ++t) xv[t] = t < m ? __ldg(reinterpret_cast<const uint4*>(x + int64_t{t} * k + k0)) : uint4{};
#pragma unroll
    for (int r = 0; r < kRun; ++r) {
      float w[awq::kPack];
      word_weights<T>(q[r], consts, w);
#pragma unroll
      for (int t = 0; t < kTile; ++t) {
        const float xr = static_cast<float>(reinterpret_cast<const T*>(&xv[t])[r]);
#pragma unroll
        for (int j = 0; j < awq::kPack; ++j) acc[t][j] = fmaf(w[j], xr, acc[t][j]);
      }
    }
#pragma unroll
    for (int r = 0; r < kRun; ++r) q[r] = next[r];
  }

  // The warps' sums, one row of X at a time, added by warp 0 in warp order.
#pragma unroll
  for (int t = 0; t < kTile; ++t) {
    if (t >= m) break;  // the same for the whole block
    if (warp > 0) {
#pragma unroll
      for (int j = 0; j < awq::kPack; ++j) warp_sums[warp - 1][lane][j] = acc[t][j];
    }
    __syncthreads();
    if (warp == 0 && owns) {
      for (int from = 0; from < kFewWarps - 1; ++from)
#pragma unroll
        for (int j = 0; j < awq::kPack; ++j) acc[t][j] += warp_sums[from][lane][j];
      const int64_t at = (t * words + c) * awq::kPack;
      if (partial == nullptr) {
        alignas(16) T v[awq::kPack];
#pragma unroll
        for (int j = 0; j < awq::kPack; ++j) v[j] = static_cast<T>(acc[t][j]);
        *reinterpret_cast<uint4*>(out + at) = *reinterpret_cast<const uint4*>(v);
      } else {
        float4* p = reinterpret_cast<float4*>(partial + int64_t{blockIdx.y} * m * words * awq::kPack + at);
        p[0] = make_float4(acc[t][0], acc[t][1], acc[t][2], acc[t][3]);
        p[1] = make_float4(acc[t][4], acc[t][5], acc[t][6], acc[t][7]);
      }
    }
    __syncthreads();
  }
}

// out = the splits' partial sums [splits][count], added in split order, in T.
template <typename T>
__global__ void __launch_bounds__(kThreads)
awq_sum_splits_kernel(const float* __restrict__ partial, int splits, int64_t count, T* __restrict__ out) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < count; i += int64_t{gridDim.x} * kThreads) {
    float sum = 0.f;
    for (int s = 0; s < splits; ++s) sum += partial[s * count + i];
    out[i] = static_cast<T>(sum);
  }
}

// The tensor-core few-row kernel (sm_80+): out^T = W^T X^T with mma.sync m16n8k16, W^T as the
// m16 operand (16 output columns x 16 rows of K) and up to kTiles n8 tiles of X's rows as the
// n8 operand, fp32 accumulation. A warp owns 64 output columns (8 packed words) as four m16
// tiles and walks 16-row steps of K; the block's 8 warps split the block's steps into contiguous
// runs, and grid.y splits K across blocks (partials added in fixed order, as in the CUDA-core
// kernel).
//
// The fragment layout is chosen so that each lane decodes exactly its own fragments from one
// 16-byte load per row. Lane (g, t) (g = lane / 4, t = lane % 4) holds, per m16 tile, tile rows g
// and g + 8 at K rows 2t, 2t + 1, 2t + 8, 2t + 9 of the step. Tile m's rows g and g + 8 are the
// two columns of pair g % 4 (nibbles i and i + 4, awq_pack.h) of the warp's word 4 (g / 4) + m,
// so one half2 decode gives both rows at one K row, and a lane's words for the four tiles are 4
// consecutive words of that K row: one 16-byte load. Two byte permutes turn the decodes of two
// K rows into the (k, k + 1) pairs the fragment wants.
constexpr int kMmaWarps = 8;
constexpr int kMmaStep = 16;       // K rows per mma
constexpr int kMmaWords = 8;       // packed words (64 columns) per warp
constexpr int kMmaRowsMax = 32;    // rows of X per pass (4 n8 tiles)

template <typename T, int kTiles>
__global__ void __launch_bounds__(kMmaWarps * 32, 2)
awq_mma_few_rows_kernel(const T* __restrict__ x, int m, const uint4* __restrict__ qweight,
                        const uint4* __restrict__ qzeros, const uint32_t* __restrict__ scales, int k, int64_t words,
                        int group_size, int steps_per_split, T* __restrict__ out, float* __restrict__ partial) {
  using H = HalfPairs<T>;
  __shared__ float warp_sums[kMmaWarps - 1][4][4][32];  // one n8 tile of every other warp's sums
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4, pair = g % 4;
  const int64_t word0 = int64_t{blockIdx.x} * kMmaWords + 4 * (g / 4);  // the lane's 4 words (one per tile)
  const int64_t row_vecs = words / 4;                                     // 16-byte vectors per row of qweight
  const int step_first = blockIdx.y * steps_per_split;
  const int step_end = min(k / kMmaStep, step_first + steps_per_split);

  float acc[4][kTiles][4];
#pragma unroll
  for (int tile = 0; tile < 4; ++tile)
#pragma unroll
    for (int j = 0; j < kTiles; ++j) acc[tile][j][0] = acc[tile][j][1] = acc[tile][j][2] = acc[tile][j][3] = 0.f;
  // X rows 8j + g of the pass, masked to zero past m (row 0 is read instead, so loads need no branch).
  const uint32_t* x_row[kTiles];
  uint32_t x_mask[kTiles];
#pragma unroll
  for (int j = 0; j < kTiles; ++j) {
    const int row = 8 * j + g;
    x_row[j] = reinterpret_cast<const uint32_t*>(x + int64_t{row < m ? row : 0} * k);
    x_mask[j] = row < m ? 0xffffffffu : 0u;
  }

  // The warp's steps are contiguous (a group change every group_size / 16 steps, not every
  // step), and kDepth of them are in flight: at one step's 512 bytes per warp the loads were too
  // few to cover the memory latency (0.25 of copy at M = 1).
  const int per_warp = (step_end - step_first + kMmaWarps - 1) / kMmaWarps;
  const int my_first = step_first + warp * per_warp, my_end = min(step_end, my_first + per_warp);
  constexpr int kDepth = kTiles == 1 ? 3 : 2;
  constexpr int kUnroll = kTiles <= 2 ? kDepth : 1;  // unrolled, 4 n8 tiles spill
  uint4 q[kDepth][4];  // per step in flight: K rows 2t, 2t + 1, 2t + 8, 2t + 9, the lane's word of each tile
  auto load_step = [&](int step, uint4 (&into)[4]) {
    if (step < my_end) {
#pragma unroll
      for (int r = 0; r < 4; ++r)
        into[r] = __ldg(qweight + int64_t{step * kMmaStep + 2 * t + (r & 1) + 8 * (r >> 1)} * row_vecs + word0 / 4);
    }
  };
#pragma unroll
  for (int d = 0; d < kDepth - 1; ++d) load_step(my_first + d, q[d + 1]);
  uint32_t zeros[4], scale_pairs[4];
  int group_end = 0;
#pragma unroll(kUnroll)  // the copies between the in-flight slots become register renames
  for (int step = my_first; step < my_end; ++step) {
#pragma unroll
    for (int d = 0; d < kDepth - 1; ++d)
#pragma unroll
      for (int r = 0; r < 4; ++r) q[d][r] = q[d + 1][r];
    load_step(step + kDepth - 1, q[kDepth - 1]);
    const int k0 = step * kMmaStep;
    uint32_t b[kTiles][2];
#pragma unroll
    for (int j = 0; j < kTiles; ++j) {
      b[j][0] = __ldg(x_row[j] + (k0 + 2 * t) / 2) & x_mask[j];
      b[j][1] = __ldg(x_row[j] + (k0 + 2 * t + 8) / 2) & x_mask[j];
    }
    if (k0 >= group_end) {  // a step lies in one group (the group size is a multiple of 16)
      const int group = k0 / group_size;
      group_end = (group + 1) * group_size;
      const uint4 z = __ldg(qzeros + (group * words + word0) / 4);
      const uint32_t zw[4] = {z.x, z.y, z.z, z.w};
#pragma unroll
      for (int tile = 0; tile < 4; ++tile) {
        zeros[tile] = H::biased(zw[tile], pair);
        scale_pairs[tile] = __ldg(scales + ((group * words + word0 + tile) * 8 + 2 * pair) / 2);
      }
    }
#pragma unroll
    for (int tile = 0; tile < 4; ++tile) {
      uint32_t w_of[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const uint4& v = q[0][r];
        w_of[r] = tile == 0 ? v.x : tile == 1 ? v.y : tile == 2 ? v.z : v.w;
      }
      uint32_t d[4];  // (row g, row g + 8) at K rows 2t, 2t + 1, 2t + 8, 2t + 9
#pragma unroll
      for (int r = 0; r < 4; ++r) d[r] = H::weights(H::biased(w_of[r], pair), zeros[tile], scale_pairs[tile]);
      const uint32_t a[4] = {__byte_perm(d[0], d[1], 0x5410), __byte_perm(d[0], d[1], 0x7632),
                             __byte_perm(d[2], d[3], 0x5410), __byte_perm(d[2], d[3], 0x7632)};
#pragma unroll
      for (int j = 0; j < kTiles; ++j) TensorCore<T>::mma(acc[tile][j], a, b[j][0], b[j][1]);
    }
  }

  // The warps' sums, one n8 tile at a time, added by warp 0 in warp order. c0, c1: tile row g,
  // X rows 2t and 2t + 1 of the n8 tile; c2, c3: tile row g + 8.
  const int64_t n = words * 8;
#pragma unroll
  for (int j = 0; j < kTiles; ++j) {
    if (8 * j >= m) break;  // the same for the whole block
    if (warp > 0) {
#pragma unroll
      for (int tile = 0; tile < 4; ++tile)
#pragma unroll
        for (int c = 0; c < 4; ++c) warp_sums[warp - 1][tile][c][lane] = acc[tile][j][c];
    }
    __syncthreads();
    if (warp == 0) {
      for (int from = 0; from < kMmaWarps - 1; ++from)
#pragma unroll
        for (int tile = 0; tile < 4; ++tile)
#pragma unroll
          for (int c = 0; c < 4; ++c) acc[tile][j][c] += warp_sums[from][tile][c][lane];
#pragma unroll
      for (int tile = 0; tile < 4; ++tile) {
        const int64_t column = (word0 + tile) * 8 + 2 * pair;  // tile row g; row g + 8 is the next column
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int row = 8 * j + 2 * t + (c & 1);
          if (row >= m) continue;
          const int64_t at = int64_t{row} * n + column + (c >> 1);
          if (partial == nullptr) {
            out[at] = static_cast<T>(acc[tile][j][c]);
          } else {
            partial[int64_t{blockIdx.y} * m * n + at] = acc[tile][j][c];
          }
        }
      }
    }
    __syncthreads();
  }
}

// How a fused kernel splits K across blocks: into `splits` ranges of `per_split` units (8-row runs
// or 16-row steps), so that the grid fills every SM with as many blocks as stay resident, with at
// least two units per warp.
struct KSplit {
  int per_split, splits;
};

template <class Kernel>
KSplit split_k(Kernel kernel, int sms, int64_t column_blocks, int units, int warps) {
  int per_sm = 0;
  VLLM_OPS_GPU_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, warps * 32, 0));
  const int64_t slots = int64_t{sms} * std::max(per_sm, 1);
  const int64_t most = std::max(1, units / (2 * warps));
  const int64_t splits = std::clamp<int64_t>((slots + column_blocks - 1) / column_blocks, 1, most);
  const int per_split = static_cast<int>((units + splits - 1) / splits);
  return {per_split, (units + per_split - 1) / per_split};
}

// out [count] = the sum of the splits' partials [splits][count], where K was split.
template <typename T>
void sum_splits(const float* partial, int splits, int64_t count, T* out, int sms, gpuStream_t stream) {
  const auto blocks = static_cast<unsigned>(std::min<int64_t>(int64_t{sms} * 8, (count + kThreads - 1) / kThreads));
  awq_sum_splits_kernel<T><<<blocks, kThreads, 0, stream>>>(partial, splits, count, out);
}

// X [m, K] @ W on the tensor cores for m <= kMmaRowsMax in one pass. false where the kernel does
// not apply: compute capability below 8.0, N not a multiple of 64 or K of 16, a group size not a
// multiple of 16, K of 2^31 or more, X, the packed tensors or the scales not 16-byte aligned.
bool mma_few_rows_gemm(const Tensor& x, const Tensor& qweight, const Tensor& scales, const Tensor& qzeros,
                       const AwqShape& shape, Tensor& out) {
  const int64_t m = x.size(0), words = qweight.size(1);
  const int device = qweight.get_device_index();
  if (m > kMmaRowsMax || shape.k == 0 || shape.k % kMmaStep != 0 || shape.group_size % kMmaStep != 0 ||
      words % kMmaWords != 0 || shape.k >= (int64_t{1} << 31) || compute_capability_major(device) < 8 ||
      !is_aligned(x.const_data_ptr(), 16) || !is_aligned(scales.const_data_ptr(), 16) ||
      !is_aligned(qweight.const_data_ptr(), 16) || !is_aligned(qzeros.const_data_ptr(), 16))
    return false;
  const int steps = static_cast<int>(shape.k / kMmaStep);
  torch::stable::accelerator::DeviceGuard guard(device);
  const gpuStream_t stream = current_gpu_stream(device);
  const int sms = multiprocessor_count(device);
  const int64_t column_blocks = words / kMmaWords;
  Tensor partial;  // [splits][m][N], only where K is split across blocks
  dispatch_half_types(x.scalar_type(), [&](auto dtype_tag) {
    using scalar_t = decltype(dtype_tag);
    auto launch = [&](auto kernel) {
      const KSplit split = split_k(kernel, sms, column_blocks, steps, kMmaWarps);
      float* p = nullptr;
      if (split.splits > 1) {
        partial = torch::stable::new_empty(x, {int64_t{split.splits} * m * shape.n}, ScalarType::Float);
        p = static_cast<float*>(partial.mutable_data_ptr());
      }
      auto* op = static_cast<scalar_t*>(out.mutable_data_ptr());
      kernel<<<dim3(static_cast<unsigned>(column_blocks), static_cast<unsigned>(split.splits)), kMmaWarps * 32, 0,
               stream>>>(static_cast<const scalar_t*>(x.const_data_ptr()), static_cast<int>(m),
                         static_cast<const uint4*>(qweight.const_data_ptr()),
                         static_cast<const uint4*>(qzeros.const_data_ptr()),
                         static_cast<const uint32_t*>(scales.const_data_ptr()), static_cast<int>(shape.k), words,
                         static_cast<int>(shape.group_size), split.per_split, op, p);
      if (p != nullptr) sum_splits(p, split.splits, m * shape.n, op, sms, stream);
    };
    if (m <= 8) {
      launch(awq_mma_few_rows_kernel<scalar_t, 1>);
    } else if (m <= 16) {
      launch(awq_mma_few_rows_kernel<scalar_t, 2>);
    } else {
      launch(awq_mma_few_rows_kernel<scalar_t, 4>);
    }
  });
  VLLM_OPS_GPU_CHECK(gpuGetLastError());
  return true;
}

// X [m, K] @ W for m <= kFewRowsMax, kFewTile rows of X per pass. false where the kernel does not
// apply (a group size or K that is not a multiple of kRun, K of 2^31 or more, X or the scales
// not 16-byte aligned).
bool few_rows_gemm(const Tensor& x, const Tensor& qweight, const Tensor& scales, const Tensor& qzeros,
                   const AwqShape& shape, Tensor& out) {
  if (shape.k == 0 || shape.k % kRun != 0 || shape.group_size % kRun != 0 || shape.k >= (int64_t{1} << 31) ||
      !is_aligned(x.const_data_ptr(), 16) || !is_aligned(scales.const_data_ptr(), 16))
    return false;
  const int64_t m = x.size(0), words = qweight.size(1);
  const int runs = static_cast<int>(shape.k / kRun);
  const int device = qweight.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const gpuStream_t stream = current_gpu_stream(device);
  const int sms = multiprocessor_count(device);
  const int64_t column_blocks = (words + 31) / 32;
  Tensor partial;  // [splits][rows of a pass][N], only where K is split across blocks
  dispatch_half_types(x.scalar_type(), [&](auto dtype_tag) {
    using scalar_t = decltype(dtype_tag);
    const auto* xp = static_cast<const scalar_t*>(x.const_data_ptr());
    auto* op = static_cast<scalar_t*>(out.mutable_data_ptr());
    for (int64_t first = 0; first < m; first += kFewTile) {
      const int rows = static_cast<int>(std::min<int64_t>(kFewTile, m - first));
      auto launch = [&](auto kernel) {
        const KSplit split = split_k(kernel, sms, column_blocks, runs, kFewWarps);
        float* p = nullptr;
        if (split.splits > 1) {
          const int64_t need = int64_t{split.splits} * rows * shape.n;
          if (!partial.defined() || partial.numel() < need) partial = torch::stable::new_empty(x, {need}, ScalarType::Float);
          p = static_cast<float*>(partial.mutable_data_ptr());
        }
        kernel<<<dim3(static_cast<unsigned>(column_blocks), static_cast<unsigned>(split.splits)), kFewWarps * 32, 0,
                 stream>>>(xp + first * shape.k, rows, static_cast<const uint32_t*>(qweight.const_data_ptr()),
                           static_cast<const uint32_t*>(qzeros.const_data_ptr()),
                           static_cast<const scalar_t*>(scales.const_data_ptr()), static_cast<int>(shape.k), words,
                           static_cast<int>(shape.group_size), split.per_split, op + first * shape.n, p);
        if (p != nullptr) sum_splits(p, split.splits, rows * shape.n, op + first * shape.n, sms, stream);
      };
      if (rows == 1) {
        launch(awq_few_rows_kernel<scalar_t, 1>);
      } else if (rows == 2) {
        launch(awq_few_rows_kernel<scalar_t, 2>);
      } else {
        launch(awq_few_rows_kernel<scalar_t, kFewTile>);
      }
    }
  });
  VLLM_OPS_GPU_CHECK(gpuGetLastError());
  return true;
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
  const int64_t m = in_feats.size(0);
  if (m >= 1 && m <= kMmaRowsMax) {
    // One row: the CUDA-core kernel (H200: 9.4 and 21.6 us at 4096 x 4096 and 4096 x 14336,
    // against 16.4 and 33.5 on the tensor cores, which waste 7 of 8 n8 columns there); more rows:
    // the tensor cores (at 4 rows 16.8 and 34.1 us against 13.4 and 40.6; flat up to 16 rows).
    Tensor out = torch::stable::new_empty(in_feats, {m, shape.n});
    if (m == 1 && few_rows_gemm(in_feats, qweight, scales, qzeros, shape, out)) return out;
    if (mma_few_rows_gemm(in_feats, qweight, scales, qzeros, shape, out)) return out;
    if (m <= kFewRowsMax && few_rows_gemm(in_feats, qweight, scales, qzeros, shape, out)) return out;
  }
  const Tensor w = dequantize(qweight, scales, qzeros, shape);
  return torch::stable::matmul(in_feats, w);
}

}  // namespace vllm_ops
