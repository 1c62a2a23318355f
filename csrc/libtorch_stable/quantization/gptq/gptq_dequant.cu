// W to a dense [K, N] matrix in a's dtype, original row order (the many-rows path of gptq_gemm),
// and the tensor-core GEMM after it. One thread per pack of 32 rows times 4 columns: 16-byte
// loads of each of the pack's `bits` word rows, 8-byte stores of each output row.

#include <torch/csrc/stable/accelerator.h>

#include <algorithm>

#include "gptq_gpu.h"

namespace vllm_ops {
namespace {

constexpr int kThreads = 256;

template <class PB, typename T>
__global__ void __launch_bounds__(kThreads) dequant_kernel(gptq::WeightView v, T* __restrict__ out) {
  const int64_t quads = v.n / 4, items = v.k / gptq::kPackValues * quads;
  const int64_t item = blockIdx.x * int64_t{kThreads} + threadIdx.x;
  if (item >= items) return;
  const int64_t pack = item / quads, col = item % quads * 4;
  uint32_t words[4][PB::kWords];
  gptq::load_quad_pack<PB>(v, pack, col, words);
  gptq::QuadGroup<PB, T> grp;
  if (!v.row_group) grp.load(v, pack * gptq::kPackValues / v.group_size, col);  // one group per pack
#pragma unroll  // fully: words[] must stay in registers, which constant indices allow
  for (int i = 0; i < gptq::kPackValues; ++i) {
    const int64_t row = pack * gptq::kPackValues + i;
    if (v.row_group) grp.load(v, v.group_of(row), col);
    gptq::Quad<T> o;
#pragma unroll
    for (int c = 0; c < 4; ++c) o.v[c] = static_cast<T>(gptq::dequant(PB::get(words[c], i), grp.zero[c], grp.scale[c]));
    *reinterpret_cast<gptq::Quad<T>*>(out + v.source_of(row) * v.n + col) = o;
  }
}

template <class PB, typename T>
void launch_dequant(const gptq::WeightView& v, Tensor& w, gpuStream_t stream) {
  const int64_t items = v.k / gptq::kPackValues * (v.n / 4);
  dequant_kernel<PB, T><<<static_cast<unsigned>((items + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      v, static_cast<T*>(w.mutable_data_ptr()));
}

}  // namespace

void GptqLauncher<GpuBackend>::dequantize(const gptq::WeightView& v, Tensor& w) {
  const int device = w.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const gpuStream_t stream = current_gpu_stream(device);
  gptq::dispatch_bits(v.bits, [&](auto bits_tag) {
    dispatch_half_types(w.scalar_type(), [&](auto dtype_tag) {
      launch_dequant<decltype(bits_tag), decltype(dtype_tag)>(v, w, stream);
    });
  });
  VLLM_OPS_GPU_CHECK(gpuGetLastError());
}

// torch's matmul: cuBLAS (hipBLAS on ROCm) on the tensor cores.
Tensor GptqLauncher<GpuBackend>::dense_gemm(const Tensor& a, const Tensor& w) { return torch::stable::matmul(a, w); }

}  // namespace vllm_ops
