// GPU launcher for the activation ops (CUDA, and HIP when compiled for ROCm).
//
// Two kernels over the same math, chosen per call from H100 measurements against vLLM's
// kernels (benchmarks/bench_activation.py, notes in benchmarks/NOTES.md):
//  - a row kernel: a 2-D grid, x over token rows, y over column chunks when there are too few
//    rows to fill the GPU. Small problems are latency-bound, so they use 8-byte vectors (more
//    threads, shorter per-thread chains); larger ones 16-byte vectors.
//  - a tiled kernel for many long rows (fp32 and bf16): each thread issues several 16-byte loads
//    before it computes, so more loads are in flight per thread.
// Misaligned pointers or row widths fall back to scalar accesses. Indices are 32-bit below 2^30
// elements, 64-bit above.

#include <torch/csrc/stable/accelerator.h>

#include <type_traits>

#include "../../gpu_runtime.h"
#include "../../gpu_vector.h"
#include "activation_ops_impl.h"

namespace vllm_ops {
namespace {

constexpr int64_t kMaxGridY = 65535;
// Output bytes up to which a problem is latency-bound and takes 8-byte vectors (more threads,
// shorter per-thread chains). Unary ops switch to 16-byte vectors earlier: A/B on the H100, all
// 15 unary cases between 2 and 8 MB (256 tokens x 5632 and 14336) ran 2-8 % faster with 16-byte
// vectors, while the gated ops' cases there were mixed (up to 12 % slower for fp16/bf16).
constexpr int64_t kSmallProblemBytes = 8 << 20;
constexpr int64_t kSmallUnaryProblemBytes = 2 << 20;
constexpr int kRowThreads = 256;                  // at most, per block of the row kernel

// The input vectors behind one output vector: gate and up (or the two interleaved halves), or
// just x for unary ops.
template <class V>
struct VecInputs {
  V a, b;
};

template <class Op, class V, typename I>
__device__ __forceinline__ VecInputs<V> load_vec(const typename V::Elem* in_row, I d, I i) {
  VecInputs<V> in;
  if constexpr (Op::kLayout == act::RowLayout::kUnary) {
    in.a = *reinterpret_cast<const V*>(in_row + i);
  } else if constexpr (Op::kLayout == act::RowLayout::kGateUpHalves) {
    in.a = *reinterpret_cast<const V*>(in_row + i);
    in.b = *reinterpret_cast<const V*>(in_row + d + i);
  } else {
    in.a = *reinterpret_cast<const V*>(in_row + 2 * i);
    in.b = *reinterpret_cast<const V*>(in_row + 2 * i + V::kSize);
  }
  return in;
}

template <class Op, class V>
__device__ __forceinline__ V compute_vec(const Op& op, const VecInputs<V>& in) {
  using T = typename V::Elem;
  V o;
  if constexpr (act::kPairwise<Op, T> && V::kSize % 2 == 0) {
    static_assert(Op::kLayout == act::RowLayout::kUnary, "pairwise evaluation is written for unary ops");
    // Two elements per packed register (storage_arith.h: same bits as one at a time).
    using S = act::PairStorage<T>;
#pragma unroll
    for (int k = 0; k < V::kSize; k += 2) S::store(op.template eval<S>(S::load(&in.a.v[k])), &o.v[k]);
  } else if constexpr (Op::kLayout == act::RowLayout::kUnary) {
#pragma unroll
    for (int k = 0; k < V::kSize; ++k) o.v[k] = op(in.a.v[k]);
  } else if constexpr (Op::kLayout == act::RowLayout::kGateUpHalves) {
#pragma unroll
    for (int k = 0; k < V::kSize; ++k) o.v[k] = op(in.a.v[k], in.b.v[k]);
  } else {
    // Interleaved pairs: output k of the first half comes from a, of the second half from b.
#pragma unroll
    for (int k = 0; k < V::kSize / 2; ++k) {
      o.v[k] = op(in.a.v[2 * k], in.a.v[2 * k + 1]);
      o.v[V::kSize / 2 + k] = op(in.b.v[2 * k], in.b.v[2 * k + 1]);
    }
  }
  return o;
}

// One row's columns, split over blockIdx.y and the threads. kVecBytes == 0: scalar accesses.
template <typename T, class Op, int kVecBytes, typename I>
__device__ __forceinline__ void activation_columns(T* __restrict__ out_row, const T* __restrict__ in_row, I d,
                                                   const Op& op) {
  const I first = static_cast<I>(blockIdx.y) * blockDim.x + threadIdx.x;
  const I step = static_cast<I>(gridDim.y) * blockDim.x;
  if constexpr (kVecBytes > 0) {
    using V = Vec<T, kVecBytes>;
    for (I v = first; v < d / V::kSize; v += step) {
      *reinterpret_cast<V*>(out_row + v * V::kSize) = compute_vec(op, load_vec<Op, V>(in_row, d, v * V::kSize));
    }
  } else {
    for (I i = first; i < d; i += step) out_row[i] = act::apply_at(op, in_row, d, i);
  }
}

// I is the index type: int when the tensor has fewer than 2^30 elements, so the grid has one x
// per row and no row loop is needed, int64_t otherwise. The 32-bit form issues its first load
// after about half the instructions (28 against 51 for fp32 gelu_new), which is what small,
// latency-bound calls pay for. A/B on the H100 (270 cases at 1-256 tokens): 6 cases under 0.95x
// vLLM with 64-bit indices (min 0.92, the fp32 2048-wide ones), none with 32-bit (min 0.97).
template <typename T, class Op, int kVecBytes, typename I>
__device__ __forceinline__ void activation_rows(T* __restrict__ out, const T* __restrict__ in, I rows, I d,
                                                const Op& op) {
  const I in_width = static_cast<I>(act::input_row_width<Op>(d));
  if constexpr (sizeof(I) == 4) {
    const I r = blockIdx.x;
    activation_columns<T, Op, kVecBytes>(out + r * d, in + r * in_width, d, op);
  } else {
    for (I r = blockIdx.x; r < rows; r += gridDim.x) {
      activation_columns<T, Op, kVecBytes>(out + r * d, in + r * in_width, d, op);
    }
  }
}

template <typename T, class Op, int kVecBytes, typename I>
__global__ void activation_row_kernel(T* __restrict__ out, const T* __restrict__ in, I rows, I d, Op op) {
  activation_rows<T, Op, kVecBytes>(out, in, rows, d, op);
}

// The row kernel held to 32 registers (8 blocks of 256 threads per SM), for the ops where that
// measured faster on the H100: gelu_and_mul (erf), whose uncapped build takes 36-42 registers
// and lost up to 10 % to vLLM on 2048-wide rows (with the cap: at least 0.96x). The same cap made
// the silu-type ops spill and lose up to 20 %, so it is not applied to them. CUDA only: HIP's
// second launch bound means something else.
template <class Op>
constexpr bool kCapRowRegisters = false;
#ifndef USE_ROCM
template <>
constexpr bool kCapRowRegisters<act::ActAndMul<act::GeluErf, true>> = true;
#endif

template <typename T, class Op, int kVecBytes, typename I>
__global__ void __launch_bounds__(kRowThreads, 8)
    activation_row_kernel_32_registers(T* __restrict__ out, const T* __restrict__ in, I rows, I d, Op op) {
  activation_rows<T, Op, kVecBytes>(out, in, rows, d, op);
}

// Tiles split each row evenly (tile_items <= kTileThreads * kUnroll), so no block is mostly idle.
constexpr int kTileThreads = 128;
constexpr int kUnroll = 4;

// 32-bit indices only: the launcher takes the row kernel for 2^30 elements or more.
template <typename T, class Op>
__global__ void __launch_bounds__(kTileThreads)
    activation_tiled_kernel(T* __restrict__ out, const T* __restrict__ in, int d, int tiles_per_row, int tile_items,
                            Op op) {
  using V = Vec<T, 16>;
  const int items = d / V::kSize;
  const int tile = blockIdx.x;  // one block per tile
  const int r = tile / tiles_per_row;
  const int begin = (tile - r * tiles_per_row) * tile_items;
  const int end = begin + tile_items < items ? begin + tile_items : items;
  const T* in_row = in + r * static_cast<int>(act::input_row_width<Op>(d));
  T* out_row = out + r * d;
  VecInputs<V> loaded[kUnroll];
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int item = begin + u * kTileThreads + static_cast<int>(threadIdx.x);
    if (item < end) loaded[u] = load_vec<Op, V>(in_row, d, item * V::kSize);
  }
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int item = begin + u * kTileThreads + static_cast<int>(threadIdx.x);
    if (item < end) *reinterpret_cast<V*>(out_row + item * V::kSize) = compute_vec(op, loaded[u]);
  }
}

bool vectorizable(const void* out, const void* in, int64_t d_bytes, int bytes) {
  return d_bytes % bytes == 0 && is_aligned(out, bytes) && is_aligned(in, bytes);
}

template <typename T, class Op, int kVecBytes, typename I>
void launch_row_kernel(const Op& op, T* out, const T* in, int64_t rows, int64_t d, dim3 grid, int threads,
                       gpuStream_t stream) {
  if constexpr (kCapRowRegisters<Op>) {
    activation_row_kernel_32_registers<T, Op, kVecBytes, I>
        <<<grid, threads, 0, stream>>>(out, in, static_cast<I>(rows), static_cast<I>(d), op);
  } else {
    activation_row_kernel<T, Op, kVecBytes, I><<<grid, threads, 0, stream>>>(out, in, static_cast<I>(rows),
                                                                           static_cast<I>(d), op);
  }
}

template <typename T, class Op, int kVecBytes, typename I>
void launch_rows(const Op& op, T* out, const T* in, int64_t rows, int64_t d, int64_t sms,
                 gpuStream_t stream) {
  const int64_t items_per_row = kVecBytes > 0 ? d / (kVecBytes / sizeof(T)) : d;
  // Many rows: one 256-thread block per row. Few rows (or a unary op's single flattened row):
  // several blocks per row so that every SM has work.
  const int threads = static_cast<int>(std::min<int64_t>(kRowThreads, (items_per_row + 31) / 32 * 32));
  const int64_t blocks_per_row_needed = (items_per_row + threads - 1) / threads;
  const int64_t wanted_blocks = 4 * sms * (1024 / threads);
  const int64_t row_share = rows == 1 ? kMaxGridY : (wanted_blocks + rows - 1) / rows;
  const int64_t blocks_per_row = std::max<int64_t>(1, std::min({blocks_per_row_needed, row_share, kMaxGridY}));
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(rows, INT32_MAX)), static_cast<unsigned>(blocks_per_row));
  launch_row_kernel<T, Op, kVecBytes, I>(op, out, in, rows, d, grid, threads, stream);
}

}  // namespace

struct GpuBackend {
  template <typename T, class Op>
  static void launch(const Op& op, T* out, const T* in, int64_t rows, int64_t d,
                     const Tensor& input) {
    const int device = input.get_device_index();
    torch::stable::accelerator::DeviceGuard guard(device);
    const gpuStream_t stream = current_gpu_stream(device);
    const int64_t sms = multiprocessor_count(device);
    const int64_t d_bytes = d * static_cast<int64_t>(sizeof(T));
    const bool small = rows * d_bytes <= (Op::kLayout == act::RowLayout::kUnary ? kSmallUnaryProblemBytes
                                                                                 : kSmallProblemBytes);
    // fp16 is left to the row kernel: A/B on the H100, the tiled kernel lost up to 13 % on fp16
    // rows of 14336 (gelu_tanh_and_mul, fatrelu_and_mul) while winning up to 8 % on bf16 ones.
    const bool tiled = !std::is_same_v<T, c10::Half> && rows >= 1024 && d_bytes >= 16 * 1024;

    if (!fits_index32(rows * act::input_row_width<Op>(d))) {
      // 2^30 elements or more: rare and far from latency-bound, so 64-bit indices in one vector
      // width, scalar when unaligned (fewer kernels to compile).
      if (vectorizable(out, in, d_bytes, 16)) {
        launch_rows<T, Op, 16, int64_t>(op, out, in, rows, d, sms, stream);
      } else {
        launch_rows<T, Op, 0, int64_t>(op, out, in, rows, d, sms, stream);
      }
    } else if (tiled && vectorizable(out, in, d_bytes, 16)) {
      constexpr int64_t kTile = kTileThreads * kUnroll;
      const int64_t items_per_row = d_bytes / 16;
      const int64_t tiles_per_row = (items_per_row + kTile - 1) / kTile;
      const int64_t tile_items = (items_per_row + tiles_per_row - 1) / tiles_per_row;
      activation_tiled_kernel<T, Op><<<static_cast<unsigned>(rows * tiles_per_row), kTileThreads, 0, stream>>>(
          out, in, static_cast<int>(d), static_cast<int>(tiles_per_row), static_cast<int>(tile_items), op);
    } else if (!small && vectorizable(out, in, d_bytes, 16)) {
      launch_rows<T, Op, 16, int>(op, out, in, rows, d, sms, stream);
    } else if (vectorizable(out, in, d_bytes, 8)) {
      launch_rows<T, Op, 8, int>(op, out, in, rows, d, sms, stream);
    } else {
      launch_rows<T, Op, 0, int>(op, out, in, rows, d, sms, stream);
    }
    VLLM_OPS_GPU_CHECK(gpuGetLastError());
  }
};

template struct ActivationOps<GpuBackend>;

}  // namespace vllm_ops
