// ggml_dequantize on the GPU: one thread per decoded chunk of 16 elements, or per 16 bytes of a
// plain float type, written as 16-byte stores. Indices are 64-bit: outputs beyond 2^31 elements
// are ordinary for large embedding tables.

#include <torch/csrc/stable/accelerator.h>

#include <algorithm>
#include <type_traits>

#include "gguf_gpu.h"
#ifndef USE_ROCM
  #include "../../../gpu_mma.h"
#endif

namespace vllm_ops {
namespace {

constexpr int kThreads = 256;

// n elements (16-byte aligned, a multiple of 16 bytes) as 16-byte stores.
template <typename T, int n>
__device__ __forceinline__ void store_vectors(const T (&v)[n], T* dst) {
  static_assert(n * sizeof(T) % 16 == 0, "whole 16-byte vectors");
#pragma unroll
  for (int q = 0; q < n * int{sizeof(T)} / 16; ++q) reinterpret_cast<uint4*>(dst)[q] = reinterpret_cast<const uint4*>(v)[q];
}

// Chunk i's 16 elements into T, for the threads of a 32-lane group that call it together (i of
// lane 2j even, lane 2j + 1 holding chunk i + 1; chunks is even, as every block has an even
// number of chunks; the stores of i >= chunks are dropped).
// On CUDA, fp16 and bf16 are converted in pairs (one packing conversion per two elements), and
// the two lanes of a pair swap halves first: their chunks are 64 contiguous bytes, and with the
// swap each 16-byte store instruction writes whole 32-byte sectors. Stored as decoded, every store
// wrote half of each sector it touched, and the L2 took twice the sectors (ncu on the H200: L2
// throughput at 70-74 % was the bound, DRAM at 20-26 %).
template <class Traits, typename T>
__device__ __forceinline__ void store_chunk(const gguf::Chunk& ch, T* out, int64_t i, int64_t chunks) {
#ifndef USE_ROCM
  if constexpr (!std::is_same_v<T, float>) {
    alignas(16) uint32_t pairs[gguf::kChunk / 2];
  #pragma unroll
    for (int e = 0; e < gguf::kChunk / 2; ++e)
      pairs[e] = TensorCore<T>::pair(gguf::chunk_element<Traits>(ch, 2 * e), gguf::chunk_element<Traits>(ch, 2 * e + 1));
    const uint4 lo = reinterpret_cast<const uint4*>(pairs)[0], hi = reinterpret_cast<const uint4*>(pairs)[1];
    const bool odd = i & 1;
    const uint4 sent = odd ? lo : hi;
    const uint4 got = {shfl_xor(sent.x, 1), shfl_xor(sent.y, 1), shfl_xor(sent.z, 1), shfl_xor(sent.w, 1)};
    // Elements from the even lane's chunk start: the even lane writes 0-7 and 16-23 (its first
    // half, then its partner's), the odd lane 8-15 (its partner's second half) and 24-31.
    T* pair_out = out + (i & ~int64_t{1}) * gguf::kChunk;
    if (i < chunks) {
      *reinterpret_cast<uint4*>(pair_out + (odd ? 8 : 0)) = odd ? got : lo;
      *reinterpret_cast<uint4*>(pair_out + (odd ? 24 : 16)) = odd ? hi : got;
    }
    return;
  }
#endif
  if (i < chunks) {
    alignas(16) T v[gguf::kChunk];
#pragma unroll
    for (int k = 0; k < gguf::kChunk; ++k) v[k] = static_cast<T>(gguf::chunk_element<Traits>(ch, k));
    store_vectors(v, out + i * gguf::kChunk);
  }
}

// The block formats: one thread per decoded chunk. Staging the blocks through shared memory with
// 16-byte loads (as the mat-vec does) measured slower here on the H200 (geomean 0.77x over 19
// types at 4096 x 4096), and so did two chunks per thread, a grid stride apart and stored after
// both are decoded (Q4_0 0.45 of copy against 0.62). A 32-lane group loops while any of its lanes
// has a chunk, so both lanes of every pair reach the exchange in store_chunk.
template <class Traits, typename T>
__global__ void dequant_chunks_kernel(const uint8_t* __restrict__ w, T* __restrict__ out, int64_t chunks) {
  constexpr int kChunksPerBlock = Traits::kBlockElems / gguf::kChunk;
  static_assert(kChunksPerBlock % 2 == 0, "store_chunk pairs the chunks of a block");
  const int lane = threadIdx.x % 32;
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i - lane < chunks; i += int64_t{gridDim.x} * kThreads) {
    gguf::Chunk ch{};
    if (i < chunks)
      Traits::decode(w + (i / kChunksPerBlock) * Traits::kBlockBytes, static_cast<int>(i % kChunksPerBlock), ch);
    store_chunk<Traits>(ch, out, i, chunks);
  }
}

// The plain float types: 8 elements per thread and step (16 or 32 bytes of W, one or two 16-byte
// loads), decoded from the loaded words; W's start must be 16-byte aligned (the launcher checks).
// The last elems % 8 elements, and any W that is not aligned, go one element per thread.
constexpr int kFloatsPerThread = 8;

template <class Traits, typename T>
__global__ void dequant_floats_kernel(const uint8_t* __restrict__ w, T* __restrict__ out, int64_t elems, bool vectors) {
  constexpr int kLoads = kFloatsPerThread * Traits::kBlockBytes / 16;
  constexpr int kPerWord = 4 / Traits::kBlockBytes;
  const int64_t groups = vectors ? elems / kFloatsPerThread : 0;
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < groups; i += stride) {
    uint32_t words[4 * kLoads];
#pragma unroll
    for (int l = 0; l < kLoads; ++l) {
      const uint4 raw = reinterpret_cast<const uint4*>(w)[i * kLoads + l];
      words[4 * l] = raw.x, words[4 * l + 1] = raw.y, words[4 * l + 2] = raw.z, words[4 * l + 3] = raw.w;
    }
    alignas(16) T v[kFloatsPerThread];
#pragma unroll
    for (int e = 0; e < kFloatsPerThread; ++e)
      v[e] = static_cast<T>(Traits::decode_bits(words[e / kPerWord] >> (8 * Traits::kBlockBytes * (e % kPerWord))));
    store_vectors(v, out + i * kFloatsPerThread);
  }
  for (int64_t i = groups * kFloatsPerThread + blockIdx.x * int64_t{kThreads} + threadIdx.x; i < elems; i += stride)
    out[i] = static_cast<T>(Traits::decode1(w + i * Traits::kBlockBytes));
}

// Launches for one type; `scalar_t` binds the output dtype.
template <class Traits>
void launch_dequant(const uint8_t* w, Tensor& out, int64_t max_blocks, gpuStream_t stream) {
  constexpr bool kFloat = Traits::kKind == gguf::TypeKind::kFloat;
  const int64_t per_thread = kFloat ? kFloatsPerThread : gguf::kChunk;
  const int64_t items = (out.numel() + per_thread - 1) / per_thread;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(max_blocks, (items + kThreads - 1) / kThreads));
  VLLM_OPS_DISPATCH_FLOATING_TYPES(out.scalar_type(), "ggml_dequantize", [&] {
    auto* o = static_cast<scalar_t*>(out.mutable_data_ptr());
    if constexpr (kFloat) {
      dequant_floats_kernel<Traits, scalar_t><<<blocks, kThreads, 0, stream>>>(w, o, out.numel(), is_aligned(w, 16));
    } else {
      dequant_chunks_kernel<Traits, scalar_t><<<blocks, kThreads, 0, stream>>>(w, o, out.numel() / gguf::kChunk);
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
