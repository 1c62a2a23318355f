// scaled_fp4_quant on CUDA (a CUDA-only family: CMake lists this file for the cuda target only
// and torch_bindings.cpp registers it under the CUDA fence). The math is nvfp4_math.h; e2m1 is
// converted in software, so every arch in the wheel runs it (vLLM's kernel needs Blackwell's
// cvt.e2m1x2 and has no Hopper path). One thread per 16-element block: two 16-byte loads, one
// 8-byte store of codes and one scale byte. The threads also cover the padding of the swizzled
// scale layout (rows to a multiple of 128, scale columns to a multiple of 4) and of a wider
// output (vLLM's padded_n), writing zeros there, so no byte of either output is left unwritten.

#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/ops.h>

#include <algorithm>
#include <tuple>

#include "../../../dispatch_utils.h"
#include "../../../gpu_runtime.h"
#include "../../ops.h"
#include "../../tensor_checks.h"
#include "nvfp4_math.h"

namespace vllm_ops {
namespace {

using torch::headeronly::ScalarType;

constexpr int kThreads = 256;

struct Fp4Shape {
  int64_t m, n, n_out;          // rows, input columns, output columns (>= n)
  int64_t scale_rows, scale_cols;  // the scale grid the kernel writes, padding included
  bool swizzled;
  int64_t scale_bytes() const { return scale_rows * scale_cols; }
};

Fp4Shape shape_of(const Tensor& input, int64_t n_out, bool swizzled) {
  const int64_t m = input.size(0), cols = n_out / fp4::kBlock;
  const auto round_up = [](int64_t v, int64_t to) { return (v + to - 1) / to * to; };
  return {m, input.size(1), n_out, swizzled ? round_up(m, 128) : m, swizzled ? round_up(cols, 4) : cols, swizzled};
}

// One item of the kernel's loop: a scale position (row, col) and, where it lies inside the
// input, its 16 values.
template <typename T, typename Index>
struct Fp4Item {
  Index row, col;
  bool inside;
  uint4 v[2];
};

// Index: uint32_t when every scale index fits (the host checks), else int64_t. A 64-bit division
// by the run-time column count costs more than a block's whole quantization.
template <typename T, typename Index>
__device__ __forceinline__ void load_item(const T* __restrict__ input, const Fp4Shape& s, Index i, Index scale_cols,
                                          Index m, Index in_blocks, Fp4Item<T, Index>& it) {
  it.row = i / scale_cols, it.col = i % scale_cols;
  it.inside = it.row < m && it.col < in_blocks;
  if (it.inside) {
    const uint4* src = reinterpret_cast<const uint4*>(input + int64_t{it.row} * s.n + int64_t{it.col} * fp4::kBlock);
    it.v[0] = src[0];
    it.v[1] = src[1];
  }
}

// One wave of blocks walks the items, each thread loading its next item's 32 bytes before it
// quantizes the current one, so no thread waits on memory between items. (On the H200 this alone
// changed little: the e2m1 rounding on the ALU pipe was the bound; see e2m1_code_finite and
// benchmarks/NOTES.md.)
template <typename T, typename Index>
__global__ void __launch_bounds__(kThreads)
nvfp4_quant_kernel(const T* __restrict__ input, const float* __restrict__ global_scale, uint8_t* __restrict__ codes,
                   uint8_t* __restrict__ scales, Fp4Shape s) {
  const float g = *global_scale;
  const Index in_blocks = static_cast<Index>(s.n / fp4::kBlock), out_blocks = static_cast<Index>(s.n_out / fp4::kBlock);
  const Index items = static_cast<Index>(s.scale_rows * s.scale_cols), scale_cols = static_cast<Index>(s.scale_cols);
  const Index m = static_cast<Index>(s.m), stride = Index{gridDim.x} * kThreads;
  Index i = blockIdx.x * Index{kThreads} + threadIdx.x;
  Fp4Item<T, Index> next;
  if (i < items) load_item(input, s, i, scale_cols, m, in_blocks, next);
  for (; i < items; i += stride) {
    const Fp4Item<T, Index> cur = next;
    if (i + stride < items) load_item(input, s, i + stride, scale_cols, m, in_blocks, next);
    uint8_t scale_bits = 0;
    uint32_t packed[2] = {0, 0};
    if (cur.inside) {
      alignas(16) T v[fp4::kBlock];
      reinterpret_cast<uint4*>(v)[0] = cur.v[0];
      reinterpret_cast<uint4*>(v)[1] = cur.v[1];
      float x[fp4::kBlock];
#pragma unroll
      for (int e = 0; e < fp4::kBlock; ++e) x[e] = static_cast<float>(v[e]);
      fp4::quantize_block(x, g, scale_bits, packed);
    }
    if (cur.row < m && cur.col < out_blocks)
      *reinterpret_cast<uint2*>(codes + int64_t{cur.row} * (s.n_out / 2) + int64_t{cur.col} * (fp4::kBlock / 2)) =
          make_uint2(packed[0], packed[1]);
    scales[s.swizzled ? fp4::swizzled_scale_offset(cur.row, cur.col, scale_cols) : i] = scale_bits;
  }
}

void check_input(const char* op, const Tensor& input, const Tensor& input_scale) {
  check_dtype_in(op, "input", input, {ScalarType::Half, ScalarType::BFloat16});
  TORCH_UTILS_CHECK(input.is_cuda(), op, ": input must be a CUDA tensor, got ", device_str(input.device()));
  TORCH_UTILS_CHECK(input.dim() == 2, op, ": input must be 2-D [m, n], got shape ", shape_str(input));
  TORCH_UTILS_CHECK(input.size(1) % fp4::kBlock == 0, op, ": n (input.size(1) = ", input.size(1),
                    ") must be a multiple of 16, the NVFP4 block");
  check_contiguous(op, "input", input);
  check_aligned(op, "input", input, 16, " (16-byte loads of each 16-element block)");
  check_dtype_in(op, "input_scale", input_scale, {ScalarType::Float});
  check_same_device(op, "input_scale", input_scale, "input", input);
  TORCH_UTILS_CHECK(input_scale.numel() >= 1, op, ": input_scale must hold the global scale (>= 1 element), got shape ",
                    shape_str(input_scale));
}

void launch(const Tensor& input, const Tensor& input_scale, const Fp4Shape& s, Tensor& output, Tensor& output_scale) {
  const int64_t items = s.scale_rows * s.scale_cols;
  if (items == 0) return;
  const int device = input.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const gpuStream_t stream = current_gpu_stream(device);
  dispatch_half_types(input.scalar_type(), [&](auto dtype_tag) {
    using scalar_t = decltype(dtype_tag);
    // One wave: as many blocks as the SMs hold at once, from the kernel's own occupancy.
    int per_sm = 0;
    VLLM_OPS_GPU_CHECK(
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, nvfp4_quant_kernel<scalar_t, uint32_t>, kThreads, 0));
    const int64_t max_blocks = int64_t{multiprocessor_count(device)} * std::max(per_sm, 1);
    const auto blocks = static_cast<unsigned>(std::min<int64_t>(max_blocks, (items + kThreads - 1) / kThreads));
    // 32-bit indices while the loop's last index plus one grid stride stays below 2^32.
    const bool narrow = items + int64_t{blocks} * kThreads < (int64_t{1} << 32);
    const auto kernel = narrow ? nvfp4_quant_kernel<scalar_t, uint32_t> : nvfp4_quant_kernel<scalar_t, int64_t>;
    kernel<<<blocks, kThreads, 0, stream>>>(
        static_cast<const scalar_t*>(input.const_data_ptr()), static_cast<const float*>(input_scale.const_data_ptr()),
        static_cast<uint8_t*>(output.mutable_data_ptr()), static_cast<uint8_t*>(output_scale.mutable_data_ptr()), s);
  });
  VLLM_OPS_GPU_CHECK(gpuGetLastError());
}

}  // namespace

void scaled_fp4_quant_out(const Tensor& input, const Tensor& input_scale, bool is_sf_swizzled_layout, Tensor& output,
                          Tensor& output_scale) {
  constexpr const char* op = "scaled_fp4_quant";
  check_input(op, input, input_scale);
  check_dtype_in(op, "output", output, {ScalarType::Byte});
  check_same_device(op, "output", output, "input", input);
  TORCH_UTILS_CHECK(output.dim() == 2 && output.size(0) == input.size(0) && 2 * output.size(1) >= input.size(1) &&
                        (2 * output.size(1)) % fp4::kBlock == 0,
                    op, ": output must be [m = ", input.size(0), ", n_out / 2] with n_out >= n = ", input.size(1),
                    " a multiple of 16 (two codes per byte), got shape ", shape_str(output));
  check_contiguous(op, "output", output);
  check_aligned(op, "output", output, 8, " (8-byte stores of each block's codes)");
  const Fp4Shape s = shape_of(input, 2 * output.size(1), is_sf_swizzled_layout);
  check_same_device(op, "output_scale", output_scale, "input", input);
  check_contiguous(op, "output_scale", output_scale);
  // Only the bytes matter (vLLM passes int32 for the swizzled layout, uint8 for the linear one).
  TORCH_UTILS_CHECK(output_scale.numel() * output_scale.element_size() == s.scale_bytes(), op, ": output_scale must hold ",
                    s.scale_rows, " x ", s.scale_cols, " scale bytes (", is_sf_swizzled_layout ? "swizzled" : "linear",
                    " layout), got shape ", shape_str(output_scale), " of ", output_scale.element_size(), "-byte elements");
  check_no_overlap(op, "output", output, "input", input);
  check_no_overlap(op, "output_scale", output_scale, "input", input);
  check_no_overlap(op, "output_scale", output_scale, "output", output);
  launch(input, input_scale, s, output, output_scale);
}

std::tuple<Tensor, Tensor> scaled_fp4_quant(const Tensor& input, const Tensor& input_scale, bool is_sf_swizzled_layout) {
  check_input("scaled_fp4_quant", input, input_scale);
  const Fp4Shape s = shape_of(input, input.size(1), is_sf_swizzled_layout);
  Tensor output = torch::stable::new_empty(input, {s.m, s.n / 2}, ScalarType::Byte);
  // As vLLM allocates them: int32 words of four scale bytes when swizzled, bytes when linear.
  Tensor output_scale = is_sf_swizzled_layout
                            ? torch::stable::new_empty(input, {s.scale_rows, s.scale_cols / 4}, ScalarType::Int)
                            : torch::stable::new_empty(input, {s.scale_rows, s.scale_cols}, ScalarType::Byte);
  launch(input, input_scale, s, output, output_scale);
  return {output, output_scale};
}

}  // namespace vllm_ops
