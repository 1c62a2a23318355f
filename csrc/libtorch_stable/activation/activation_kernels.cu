// GPU launcher for the activation ops (CUDA, and HIP when compiled for ROCm).
//
// A 2-D grid: x over token rows, y over column chunks of a row when there are too few rows to
// fill the GPU. Each thread moves 16-byte vectors where the pointers and the row width allow
// it, and falls back to scalar accesses otherwise. All indices are 64-bit.

#include <torch/csrc/stable/accelerator.h>

#include "../../gpu_runtime.h"
#include "activation_ops_impl.h"

namespace vllm_ops {
namespace {

constexpr int kVectorBytes = 16;
constexpr int64_t kMaxGridY = 65535;

template <typename T>
struct alignas(kVectorBytes) Vec {
  static constexpr int kSize = kVectorBytes / sizeof(T);
  T v[kSize];
};

// Computes one output vector starting at element i (a multiple of kSize) of the row.
template <class Op, typename T>
__device__ __forceinline__ Vec<T> apply_vec(const Op& op, const T* in_row, int64_t d, int64_t i) {
  using V = Vec<T>;
  V o;
  if constexpr (Op::kLayout == act::RowLayout::kUnary) {
    const V x = *reinterpret_cast<const V*>(in_row + i);
#pragma unroll
    for (int k = 0; k < V::kSize; ++k) o.v[k] = op(x.v[k]);
  } else if constexpr (Op::kLayout == act::RowLayout::kGateUpHalves) {
    const V gate = *reinterpret_cast<const V*>(in_row + i);
    const V up = *reinterpret_cast<const V*>(in_row + d + i);
#pragma unroll
    for (int k = 0; k < V::kSize; ++k) o.v[k] = op(gate.v[k], up.v[k]);
  } else {
    // Interleaved pairs: output elements i..i+kSize come from 2*kSize input elements.
    const V lo = *reinterpret_cast<const V*>(in_row + 2 * i);
    const V hi = *reinterpret_cast<const V*>(in_row + 2 * i + V::kSize);
#pragma unroll
    for (int k = 0; k < V::kSize / 2; ++k) {
      o.v[k] = op(lo.v[2 * k], lo.v[2 * k + 1]);
      o.v[V::kSize / 2 + k] = op(hi.v[2 * k], hi.v[2 * k + 1]);
    }
  }
  return o;
}

template <typename T, class Op, bool kVectorized>
__global__ void activation_kernel(T* __restrict__ out, const T* __restrict__ in, int64_t rows,
                                  int64_t d, Op op) {
  const int64_t in_width = act::input_row_width<Op>(d);
  const int64_t first = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
  const int64_t step = static_cast<int64_t>(gridDim.y) * blockDim.x;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* in_row = in + r * in_width;
    T* out_row = out + r * d;
    if constexpr (kVectorized) {
      constexpr int kSize = Vec<T>::kSize;
      for (int64_t v = first; v < d / kSize; v += step) {
        *reinterpret_cast<Vec<T>*>(out_row + v * kSize) = apply_vec(op, in_row, d, v * kSize);
      }
    } else {
      for (int64_t i = first; i < d; i += step) out_row[i] = act::apply_at(op, in_row, d, i);
    }
  }
}

int multiprocessor_count(int device) {
  static int cached[64] = {};  // per device; concurrent first calls write the same value
  int count = device >= 0 && device < 64 ? cached[device] : 0;
  if (count == 0) {
    VLLM_OPS_GPU_CHECK(gpuDeviceGetAttribute(&count, gpuDevAttrMultiProcessorCount, device));
    if (device >= 0 && device < 64) cached[device] = count;
  }
  return count;
}

bool is_aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kVectorBytes == 0; }

}  // namespace

struct GpuBackend {
  template <typename T, class Op>
  static void launch(const Op& op, T* out, const T* in, int64_t rows, int64_t d,
                     const Tensor& input) {
    const int device = input.get_device_index();
    torch::stable::accelerator::DeviceGuard guard(device);
    const gpuStream_t stream = current_gpu_stream(device);

    constexpr int kSize = Vec<T>::kSize;
    const bool vectorized = d % kSize == 0 && is_aligned(in) && is_aligned(out);
    const int64_t items_per_row = vectorized ? d / kSize : d;
    const int64_t sms = multiprocessor_count(device);
    // Many rows: one wide block per row, each thread a vector or two (measured on H100 to reach
    // copy bandwidth). Few rows (or a unary op's single flattened row): narrower blocks, and
    // several per row so that every SM gets work.
    const int64_t max_threads = rows >= 2 * sms ? 1024 : 256;
    const int threads = static_cast<int>(std::min<int64_t>(max_threads, (items_per_row + 31) / 32 * 32));
    const int64_t blocks_per_row_needed = (items_per_row + threads - 1) / threads;
    const int64_t wanted_blocks = 8 * sms * (1024 / threads);
    const int64_t row_share = rows == 1 ? kMaxGridY : (wanted_blocks + rows - 1) / rows;
    const int64_t blocks_per_row =
        std::max<int64_t>(1, std::min({blocks_per_row_needed, row_share, kMaxGridY}));
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>(rows, INT32_MAX)),
                    static_cast<unsigned>(blocks_per_row));

    if (vectorized) {
      activation_kernel<T, Op, true><<<grid, threads, 0, stream>>>(out, in, rows, d, op);
    } else {
      activation_kernel<T, Op, false><<<grid, threads, 0, stream>>>(out, in, rows, d, op);
    }
    VLLM_OPS_GPU_CHECK(gpuGetLastError());
  }
};

template struct ActivationOps<GpuBackend>;

}  // namespace vllm_ops
