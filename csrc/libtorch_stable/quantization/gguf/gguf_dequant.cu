// ggml_dequantize on the GPU: one thread per decoded chunk of 16 elements (written as 16-byte
// stores), or per element for the plain float types. Indices are 64-bit: outputs beyond 2^31
// elements are ordinary for large embedding tables.

#include <torch/csrc/stable/accelerator.h>

#include <algorithm>

#include "gguf_gpu.h"

namespace vllm_ops {
namespace {

constexpr int kThreads = 256;

template <class Traits, typename T>
__global__ void dequant_chunks_kernel(const uint8_t* __restrict__ w, T* __restrict__ out, int64_t chunks) {
  constexpr int kChunksPerBlock = Traits::kBlockElems / gguf::kChunk;
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < chunks; i += int64_t{gridDim.x} * kThreads) {
    gguf::Chunk ch;
    Traits::decode(w + (i / kChunksPerBlock) * Traits::kBlockBytes, static_cast<int>(i % kChunksPerBlock), ch);
    alignas(16) T v[gguf::kChunk];
#pragma unroll
    for (int k = 0; k < gguf::kChunk; ++k) v[k] = static_cast<T>(gguf::chunk_element(ch, k));
    constexpr int kVecs = gguf::kChunk * sizeof(T) / 16;
    uint4* dst = reinterpret_cast<uint4*>(out + i * gguf::kChunk);
#pragma unroll
    for (int j = 0; j < kVecs; ++j) dst[j] = reinterpret_cast<const uint4*>(v)[j];
  }
}

template <class Traits, typename T>
__global__ void dequant_floats_kernel(const uint8_t* __restrict__ w, T* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < n; i += int64_t{gridDim.x} * kThreads)
    out[i] = static_cast<T>(Traits::decode1(w + i * Traits::kBlockBytes));
}

// Launches for one type; `scalar_t` binds the output dtype.
template <class Traits>
void launch_dequant(const uint8_t* w, Tensor& out, int64_t max_blocks, gpuStream_t stream) {
  const int64_t items = Traits::kKind == gguf::TypeKind::kFloat ? out.numel() : out.numel() / gguf::kChunk;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(max_blocks, (items + kThreads - 1) / kThreads));
  VLLM_OPS_DISPATCH_FLOATING_TYPES(out.scalar_type(), "ggml_dequantize", [&] {
    auto* o = static_cast<scalar_t*>(out.mutable_data_ptr());
    if constexpr (Traits::kKind == gguf::TypeKind::kFloat) {
      dequant_floats_kernel<Traits, scalar_t><<<blocks, kThreads, 0, stream>>>(w, o, items);
    } else {
      dequant_chunks_kernel<Traits, scalar_t><<<blocks, kThreads, 0, stream>>>(w, o, items);
    }
  });
}

}  // namespace

void GgufLauncher<GpuBackend>::dequantize(const Tensor& W, int64_t type, Tensor& out) {
  const int device = W.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const gpuStream_t stream = current_gpu_stream(device);
  // Enough blocks to fill every SM several times over; the grid-stride loop takes the rest.
  const int64_t max_blocks = int64_t{multiprocessor_count(device)} * (2048 / kThreads) * 4;
  const auto* w = static_cast<const uint8_t*>(W.const_data_ptr());
  gguf::dispatch_type<false>("ggml_dequantize", type,
                             [&](auto traits) { launch_dequant<decltype(traits)>(w, out, max_blocks, stream); });
  VLLM_OPS_GPU_CHECK(gpuGetLastError());
}

}  // namespace vllm_ops
