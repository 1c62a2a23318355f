// gptq_shuffle on the GPU: q_weight's rows reordered by q_perm at the level of the packed values
// (a row of K is one value per column, so for 3 bits a row's value can move across words). One
// thread per destination pack and column gathers its 32 values and writes the pack's words.

#include <torch/csrc/stable/accelerator.h>

#include "gptq_gpu.h"

namespace vllm_ops {
namespace {

constexpr int kThreads = 256;

template <class PB>
__global__ void __launch_bounds__(kThreads)
permute_rows_kernel(const uint32_t* __restrict__ src, const int32_t* __restrict__ perm, uint32_t* __restrict__ dst,
                    int64_t packs, int64_t n) {
  const int64_t item = blockIdx.x * int64_t{kThreads} + threadIdx.x;
  if (item >= packs * n) return;
  const int64_t pack = item / n, col = item % n;
  uint32_t q[gptq::kPackValues], words[PB::kWords];
#pragma unroll 4
  for (int i = 0; i < gptq::kPackValues; ++i) {
    const int64_t from = perm[pack * gptq::kPackValues + i];
    const uint32_t* from_pack = src + from / gptq::kPackValues * PB::kWords * n + col;
#pragma unroll
    for (int j = 0; j < PB::kWords; ++j) words[j] = from_pack[j * n];
    q[i] = PB::get(words, static_cast<int>(from % gptq::kPackValues));
  }
  PB::pack(q, words);
#pragma unroll
  for (int j = 0; j < PB::kWords; ++j) dst[(pack * PB::kWords + j) * n + col] = words[j];
}

}  // namespace

void GptqLauncher<GpuBackend>::permute_rows(const Tensor& src, const Tensor& perm, Tensor& q_weight, int bits) {
  const int device = q_weight.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const gpuStream_t stream = current_gpu_stream(device);
  const int64_t n = q_weight.size(1), packs = q_weight.size(0) / bits;
  const auto blocks = static_cast<unsigned>((packs * n + kThreads - 1) / kThreads);
  gptq::dispatch_bits(bits, [&](auto bits_tag) {
    permute_rows_kernel<decltype(bits_tag)><<<blocks, kThreads, 0, stream>>>(
        static_cast<const uint32_t*>(src.const_data_ptr()), static_cast<const int32_t*>(perm.const_data_ptr()),
        static_cast<uint32_t*>(q_weight.mutable_data_ptr()), packs, n);
  });
  VLLM_OPS_GPU_CHECK(gpuGetLastError());
}

}  // namespace vllm_ops
