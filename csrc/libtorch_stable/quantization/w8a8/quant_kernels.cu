// GPU launcher for the W8A8 quantization ops (CUDA, and HIP when compiled for ROCm).
//
// One kernel serves every op, through its plan (quant_math.h):
//  - plans with row statistics (dynamic int8, per-token fp8) give each row one block. A row of up
//    to kCachedVecs vectors per thread is read once: kept in registers across the block
//    reduction, then quantized from there. Longer rows are read a second time.
//  - static plans give every vector of a row its own thread, in blocks along the row; per-tensor
//    ones over contiguous tensors see the whole tensor as one row.
// Each thread issues its loads (16-byte vectors where pointers, strides, widths and scale groups
// allow, scalars otherwise) before it converts, so several are in flight. Indices are 64-bit.
// The per-tensor dynamic fp8 scale is one more kernel: block maxima combined by an atomic max on
// the float's bits (non-negative floats order like their bit patterns).

#include <torch/csrc/stable/accelerator.h>

#include <algorithm>
#include <cstring>

#include "../../../gpu_runtime.h"
#include "../../../gpu_vector.h"
#include "quant_ops_impl.h"

namespace vllm_ops {
namespace {

constexpr int kMaxThreads = 1024;
// A compile-time lane count, so that reductions unroll and lane/warp indices are shifts (the
// runtime `warpSize` costs a loop and an integer division). The HIP arch list is wave64 (gfx9).
#ifdef USE_ROCM
constexpr int kWarpSize = 64;
  #if defined(__AMDGCN_WAVEFRONT_SIZE)
static_assert(__AMDGCN_WAVEFRONT_SIZE == kWarpSize, "the HIP kernels assume 64-lane wavefronts");
  #endif
#else
constexpr int kWarpSize = 32;
#endif

template <quant::RowStats kKind>
__device__ __forceinline__ quant::Stats warp_reduce(quant::Stats s) {
#pragma unroll
  for (int mask = kWarpSize / 2; mask > 0; mask /= 2) {
    quant::Stats other{s.lo, shfl_xor(s.hi, mask)};
    if constexpr (kKind == quant::RowStats::kMinMax) other.lo = shfl_xor(s.lo, mask);
    s = quant::stats_merge<kKind>(s, other);
  }
  return s;
}

// Reduces each thread's statistics over the block; every thread gets the result. The second
// level is a shuffle reduction of the per-warp results that every warp runs, which is shorter on
// the critical path of a one-row launch than one thread merging them in a loop.
template <quant::RowStats kKind>
__device__ quant::Stats block_reduce(quant::Stats s) {
  __shared__ quant::Stats warp_stats[kMaxThreads / kWarpSize];
  s = warp_reduce<kKind>(s);
  const int lane = threadIdx.x % kWarpSize;
  if (lane == 0) warp_stats[threadIdx.x / kWarpSize] = s;
  __syncthreads();
  const int warps = (blockDim.x + kWarpSize - 1) / kWarpSize;
  const quant::Stats total = warp_reduce<kKind>(lane < warps ? warp_stats[lane] : quant::stats_identity<kKind>());
  __syncthreads();  // warp_stats is reused by the block's next row
  return total;
}

template <quant::RowStats kKind, class V>
__device__ __forceinline__ quant::Stats add_vec(quant::Stats s, const V& x) {
#pragma unroll
  for (int k = 0; k < V::kSize; ++k) s = quant::stats_add<kKind>(s, static_cast<float>(x.v[k]));
  return s;
}

// A vector held across a block reduction, as raw 32-bit words: held as an array of fp16/bf16
// elements, the compiler keeps one register per element (64 registers for 4 cached vectors).
// Plans without statistics hold no vector across a reduction and keep it as it is loaded.
template <class V, bool kWords>
struct Packed {
  V v;
  __device__ __forceinline__ V get() const { return v; }
};
template <class V>
struct alignas(sizeof(V)) Packed<V, true> {
  uint32_t w[sizeof(V) / 4];
  __device__ __forceinline__ V get() const {
    V v;
    memcpy(&v, w, sizeof(V));
    return v;
  }
};

// kTailFirst: rows, and vectors within them, are visited from the end (a second pass over an input
// that was just read from start to end, whose end is still in L2).
// I is the index type: int when every offset is below 2^30 (the grid then has one x per row),
// int64_t otherwise.
template <typename T, class Plan, int kVecBytes, int kCachedVecs, typename I, bool kTailFirst = false,
          int kBoundThreads = kMaxThreads, int kMinBlocks = 1>
__global__ void __launch_bounds__(kBoundThreads, kMinBlocks) quant_rows_kernel(typename Plan::Out* __restrict__ out, const T* __restrict__ in,
                                  RowLayout2D l, Plan plan) {
  using V = Vec<T, kVecBytes>;
  using O = typename Plan::Out;
  using OV = Vec<O, V::kSize * sizeof(O)>;
  constexpr bool kHasStats = Plan::kStats != quant::RowStats::kNone;
  const I rows = static_cast<I>(l.rows);
  const I nvec = static_cast<I>(l.cols) / V::kSize;
  const I first = static_cast<I>(blockIdx.y) * blockDim.x + threadIdx.x;
  const I step = static_cast<I>(gridDim.y) * blockDim.x;
  const I chunk = kCachedVecs * step;
  const bool row_cached = kHasStats && nvec <= chunk;

  for (I visit_row = blockIdx.x; visit_row < rows; visit_row += gridDim.x) {
    const I r = kTailFirst ? rows - 1 - visit_row : visit_row;
    const V* in_row = reinterpret_cast<const V*>(in + r * static_cast<I>(l.in_stride));
    OV* out_row = reinterpret_cast<OV*>(out + r * static_cast<I>(l.out_stride));
    using Cached = Packed<V, kHasStats && sizeof(V) >= 4>;
    Cached cache[kCachedVecs];
    quant::Stats stats{};
    if constexpr (kHasStats) {
      stats = quant::stats_identity<Plan::kStats>();
      if (row_cached) {
#pragma unroll
        for (int u = 0; u < kCachedVecs; ++u) {
          const I i = first + u * step;
          if (i < nvec) cache[u] = reinterpret_cast<const Cached*>(in_row)[i];
        }
#pragma unroll
        for (int u = 0; u < kCachedVecs; ++u)
          if (first + u * step < nvec) stats = add_vec<Plan::kStats>(stats, cache[u].get());
      } else {
        for (I i = first; i < nvec; i += step) stats = add_vec<Plan::kStats>(stats, in_row[i]);
      }
      stats = block_reduce<Plan::kStats>(stats);
      if (threadIdx.x == 0) plan.store_row(r, stats);
    }
    for (I base = first; base < nvec; base += chunk) {
      if (!row_cached) {
#pragma unroll
        for (int u = 0; u < kCachedVecs; ++u) {
          const I i = base + u * step;
          if (i < nvec) cache[u] = reinterpret_cast<const Cached*>(in_row)[kTailFirst ? nvec - 1 - i : i];
        }
      }
      // After the loads are issued, so a static plan's scale load overlaps them.
      const auto quantize = plan.for_row(r, stats);
#pragma unroll
      for (int u = 0; u < kCachedVecs; ++u) {
        const I visit = base + u * step;
        if (visit < nvec) {
          const I i = kTailFirst ? nvec - 1 - visit : visit;
          const V x = cache[u].get();
          const auto quantize_vec = quant::for_columns<V::kSize>(quantize, i * V::kSize);
          OV q;
#pragma unroll
          for (int k = 0; k < V::kSize; ++k) q.v[k] = quantize_vec(static_cast<float>(x.v[k]), i * V::kSize + k);
          out_row[i] = q;
        }
      }
    }
    if constexpr (sizeof(I) == 4) break;  // the grid has one x per row
  }
}

// Block maxima of |x| over whole rows, combined into *scale (zeroed before) as the fp8 scale.
template <typename T, class Fp8, int kVecBytes>
__global__ void __launch_bounds__(kMaxThreads) tensor_scale_kernel(float* __restrict__ scale, const T* __restrict__ in, RowLayout2D l) {
  using V = Vec<T, kVecBytes>;
  constexpr auto kAbsMax = quant::RowStats::kAbsMax;
  const int64_t nvec = l.cols / V::kSize;
  quant::Stats s = quant::stats_identity<kAbsMax>();
  for (int64_t r = blockIdx.x; r < l.rows; r += gridDim.x) {
    const V* in_row = reinterpret_cast<const V*>(in + r * l.in_stride);
    for (int64_t i = threadIdx.x; i < nvec; i += blockDim.x) s = add_vec<kAbsMax>(s, in_row[i]);
  }
  s = block_reduce<kAbsMax>(s);
  if (threadIdx.x == 0) {
    const float block_scale = quant::fp8_tensor_scale<Fp8>(s.hi);
    atomicMax(reinterpret_cast<int*>(scale), __float_as_int(block_scale));
  }
}

// Whether rows of p (elem_bytes per element, a row stride of `stride` elements, `cols` wide)
// split into aligned vectors of n elements.
bool rows_split(const void* p, int64_t stride, int64_t elem_bytes, int64_t n, int64_t cols) {
  const int64_t vec_bytes = n * elem_bytes;
  return cols % n == 0 && is_aligned(p, vec_bytes) && (stride * elem_bytes) % vec_bytes == 0;
}

int threads_for(int64_t items_per_thread_group) {
  // Whole 64-lane groups (a HIP wavefront, two CUDA warps).
  const int64_t t = (items_per_thread_group + 63) / 64 * 64;
  return static_cast<int>(std::clamp<int64_t>(t, 64, kMaxThreads));
}

bool rows_fit_index32(const RowLayout2D& l) { return fits_index32(l.rows * std::max(l.in_stride, l.out_stride)); }

// The index types a launch is compiled for: either, chosen by the tensor's size; 32-bit only,
// for launches taken only where rows_fit_index32 holds; 64-bit only.
enum class Indices { kBySize, k32, k64 };

template <typename T, class Plan, int kVecBytes, int kVecs, bool kTailFirst = false, int kBoundThreads = kMaxThreads,
          int kMinBlocks = 1, Indices kIndices = Indices::kBySize>
void launch_rows_with(const Plan& plan, typename Plan::Out* out, const T* in, const RowLayout2D& l, int threads,
                      int64_t blocks_per_row, gpuStream_t stream) {
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(l.rows, INT32_MAX)),
                  static_cast<unsigned>(std::min<int64_t>(blocks_per_row, 65535)));
  if constexpr (kIndices != Indices::k64) {
    if (kIndices == Indices::k32 || rows_fit_index32(l)) {
      quant_rows_kernel<T, Plan, kVecBytes, kVecs, int, kTailFirst, kBoundThreads, kMinBlocks>
          <<<grid, threads, 0, stream>>>(out, in, l, plan);
      return;
    }
  }
  if constexpr (kIndices != Indices::k32) {
    quant_rows_kernel<T, Plan, kVecBytes, kVecs, int64_t, kTailFirst, kBoundThreads, kMinBlocks>
        <<<grid, threads, 0, stream>>>(out, in, l, plan);
  }
}

// Register caps (CUDA; HIP's second launch bound means something else), measured on the H100:
//  - the many-rows dynamic kernel with at most 256 threads: 48 registers (10 blocks of 128
//    threads per SM instead of 8); 40 and 48 beat no cap, and 32 spills.
//  - static plans: 32 registers, so 8 blocks of 256 threads fit per SM. Uncapped, nvcc gives
//    fp16/bf16 static int8 34 registers and the (1, 128)-group kernels 34-36, which fit 6-7
//    blocks: 0.90-0.94x vLLM and 0.82-0.85 of copy bandwidth at >= 4096 tokens, against
//    0.97-1.20x and >= 0.91 with the cap. (Only the rarely used scalar fp32 -> e4m3fnuz group
//    kernel spills, 8 bytes.)
// nvcc 13.0 spills the 32-bit form of the capped per-token fp8 kernel for fp16/bf16 inputs (24-32
// bytes; its 32 IEEE divisions per thread) but not the 64-bit form. A/B on the H100: the spilling
// form was 3-6 % slower at >= 4096 tokens, while 32-bit indices made the other capped kernels
// 1-4 % faster.
template <typename T, class Plan>
constexpr Indices kCappedIndices = Indices::kBySize;
template <typename T, class Fp8>
constexpr Indices kCappedIndices<T, quant::PerTokenFp8Plan<Fp8>> = sizeof(T) == 2 ? Indices::k64 : Indices::kBySize;

#ifdef USE_ROCM
constexpr int kCappedBound = kMaxThreads, kCappedMinBlocks = 1;
constexpr int kStaticBound = kMaxThreads, kStaticMinBlocks = 1;
#else
constexpr int kCappedBound = 256, kCappedMinBlocks = 5;
constexpr int kStaticBound = 256, kStaticMinBlocks = 8;
#endif

// Launch shapes, from A/B runs on the H100 against vLLM's kernels (benchmarks/NOTES.md):
//  - static plans: one vector per thread, a block per 256 vectors of a row (1 vector per thread
//    beat 4 with a grid-stride loop at every size: shorter chains, and the hardware overlaps
//    blocks better than one thread overlaps its own loads);
//  - dynamic plans, many rows: one block per row, 4 vectors per thread held in registers (4
//    beat 1, 2 and 8, and re-reading the row from L2 instead), registers capped as above;
//  - dynamic plans, rows that do not fill the GPU: at most 256 threads per row, so a short row
//    is spread over more threads (256 beat 128 and 512).
template <typename T, RowOrder kOrder, class Plan, int kVecBytes>
void launch_rows(const Plan& plan, typename Plan::Out* out, const T* in, const RowLayout2D& l, int device,
                 gpuStream_t stream) {
  constexpr int kRowThreads = 256;
  static_assert(kRowThreads <= kStaticBound, "static plans launch at most kStaticBound threads");
  const int64_t nvec = l.cols / (kVecBytes / static_cast<int>(sizeof(T)));
  if constexpr (Plan::kStats == quant::RowStats::kNone) {
    const int threads = threads_for(std::min<int64_t>(nvec, kRowThreads));
    const int64_t blocks_per_row = (nvec + threads - 1) / threads;
    constexpr bool kTailFirst = kOrder == RowOrder::kTailFirst;
    launch_rows_with<T, Plan, kVecBytes, 1, kTailFirst, kStaticBound, kStaticMinBlocks>(plan, out, in, l, threads,
                                                                                       blocks_per_row, stream);
  } else {
    static_assert(kOrder == RowOrder::kAny, "plans with statistics read each row in their own order");
    // Few short rows are latency-bound and always small, so they take 32-bit indices only
    // (fewer kernels to compile); rows far apart in memory take the general launch.
    const bool few_rows = l.rows <= 2 * int64_t{multiprocessor_count(device)} && rows_fit_index32(l);
    const int64_t per_thread = (nvec + kRowThreads - 1) / kRowThreads;
    if (few_rows && per_thread <= 1) {
      launch_rows_with<T, Plan, kVecBytes, 1, false, kMaxThreads, 1, Indices::k32>(plan, out, in, l, threads_for(nvec),
                                                                                 1, stream);
    } else if (few_rows && per_thread <= 2) {
      launch_rows_with<T, Plan, kVecBytes, 2, false, kMaxThreads, 1, Indices::k32>(
          plan, out, in, l, threads_for((nvec + 1) / 2), 1, stream);
    } else {
      const int threads = threads_for((nvec + 3) / 4);
      if (threads <= kCappedBound) {
        launch_rows_with<T, Plan, kVecBytes, 4, false, kCappedBound, kCappedMinBlocks, kCappedIndices<T, Plan>>(
            plan, out, in, l, threads, 1, stream);
      } else {
        launch_rows_with<T, Plan, kVecBytes, 4>(plan, out, in, l, threads, 1, stream);
      }
    }
  }
}

}  // namespace

template <>
struct QuantLauncher<GpuBackend> {
  template <typename T, RowOrder kOrder, class Plan>
  static void rows(const Plan& plan, typename Plan::Out* out, const T* in, RowLayout2D l, const Tensor& input) {
    if constexpr (Plan::kPerTensor) {
      if (l.in_stride == l.cols && l.out_stride == l.cols) {
        // Contiguous and the same quantizer everywhere: one long row, split across blocks.
        const int64_t n = l.rows * l.cols;
        l = RowLayout2D{1, n, n, n};
      }
    }
    const int device = input.get_device_index();
    torch::stable::accelerator::DeviceGuard guard(device);
    const gpuStream_t stream = current_gpu_stream(device);
    constexpr int64_t n = 16 / sizeof(T);
    if (rows_split(in, l.in_stride, sizeof(T), n, l.cols) &&
        rows_split(out, l.out_stride, sizeof(typename Plan::Out), n, l.cols) && quant::uniform_over(plan, n)) {
      launch_rows<T, kOrder, Plan, 16>(plan, out, in, l, device, stream);
    } else {
      launch_rows<T, kOrder, Plan, sizeof(T)>(plan, out, in, l, device, stream);
    }
    VLLM_OPS_GPU_CHECK(gpuGetLastError());
  }

  template <typename T, class Fp8>
  static void tensor_scale(float* scale, const T* in, RowLayout2D l, const Tensor& input) {
    const int device = input.get_device_index();
    torch::stable::accelerator::DeviceGuard guard(device);
    const gpuStream_t stream = current_gpu_stream(device);
    VLLM_OPS_GPU_CHECK(gpuMemsetAsync(scale, 0, sizeof(float), stream));
    if (l.rows == 0 || l.cols == 0) return;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(l.rows, 4 * int64_t{multiprocessor_count(device)}));
    if (rows_split(in, l.in_stride, sizeof(T), 16 / sizeof(T), l.cols)) {
      tensor_scale_kernel<T, Fp8, 16><<<blocks, 512, 0, stream>>>(scale, in, l);
    } else {
      tensor_scale_kernel<T, Fp8, sizeof(T)><<<blocks, 512, 0, stream>>>(scale, in, l);
    }
    VLLM_OPS_GPU_CHECK(gpuGetLastError());
  }
};

template struct QuantOps<GpuBackend>;

}  // namespace vllm_ops
