// The integer-dot kernels: X quantized to 8-bit runs (gguf_dot.h), then one warp per output row
// (or two) walks the row in steps of 128 chunks: the step's bytes staged in shared memory with
// 16-byte loads while the previous step decodes, each lane then decoding its chunks once and
// taking their dot products with every token of the group (up to kMaxTile). The same kernel
// serves ggml_mul_mat_vec_a8, ggml_mul_mat_a8 below the dequantize-and-GEMM crossover, and both
// MoE ops: the token map says which X rows, output rows and expert a group has. Grid: x over
// groups (over sorted blocks for ggml_moe_a8), so consecutive blocks reuse the same weight rows
// from L2; y over rows.

#include <torch/csrc/stable/accelerator.h>

#include <algorithm>
#include <type_traits>

#include "gguf_gpu.h"

namespace vllm_ops {
namespace {

// 32-lane groups: a CUDA warp, or half of a 64-lane HIP wavefront (shfl_xor stays within it).
constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 4;
// Output rows per warp for a token tile: with two, one x load serves two rows and each lane has
// both rows' weight loads in flight. A/B on the H200 (7 types, 4096 x 4096 and 4096 x 14336,
// against one row per warp, before the staged loads): 2 rows took 0.87x the speed at 1 token,
// 1.12x at 4 tokens, 0.99x at 8; 4 rows at 4 and 8 tokens lost (0.84x, 0.98x). So two rows for
// 4-token tiles only.
constexpr int rows_per_warp(int tile) { return tile == 4 ? 2 : 1; }
constexpr int kQuantThreads = 256;

template <typename T>
__global__ void quantize_runs_kernel(const T* __restrict__ x, int8_t* __restrict__ codes, float* __restrict__ scales,
                                     int64_t runs) {
  allow_dependent_launch();  // the dot kernel after this one waits for our codes itself
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

// A contiguous byte range of W moved into shared memory with 16-byte loads. GGUF blocks are
// 17 to 210 bytes and at most 4-byte aligned, so reading a block's fields where it lies takes 2-
// and 4-byte loads, too few bytes in flight per thread to reach HBM bandwidth (the mat-vec at one
// token reached 0.25-0.60 of copy that way). Staging loads the 16-byte vectors covering the range
// instead, whatever the layout: `fetch` issues the loads into registers, `store` writes them to
// the stage once they are needed, so a caller fetches step s + 1 while it decodes step s. The
// range may start and end anywhere: the covering vectors stay within the 16-byte granules that
// hold its first and last bytes, and `offset` says where the range begins in the stage.
constexpr int staged_vecs(int bytes) { return (bytes + 15) / 16 + 1; }  // covering any range of `bytes`

template <int kThreads, int kVecsPerThread>
struct StagedBytes {
  static constexpr int kCapacity = kThreads * kVecsPerThread;  // 16-byte vectors in a stage
  uint4 held[kVecsPerThread];
  const uint4* first = nullptr;
  int vecs = 0;

  __device__ __forceinline__ void fetch(const uint8_t* begin, const uint8_t* end, int thread) {
    const auto lo = reinterpret_cast<uintptr_t>(begin) & ~uintptr_t{15};
    const auto hi = (reinterpret_cast<uintptr_t>(end) + 15) & ~uintptr_t{15};
    first = reinterpret_cast<const uint4*>(lo);
    vecs = static_cast<int>((hi - lo) / 16);
#pragma unroll
    for (int v = 0; v < kVecsPerThread; ++v) {
      const int i = v * kThreads + thread;
      if (i < vecs) held[v] = __ldg(first + i);  // a global load (the integer cast hid the space)
    }
  }
  __device__ __forceinline__ void store(uint4* stage, int thread) const {
#pragma unroll
    for (int v = 0; v < kVecsPerThread; ++v) {
      const int i = v * kThreads + thread;
      if (i < vecs) stage[i] = held[v];
    }
  }
  __device__ static int offset(const uint8_t* begin) { return static_cast<int>(reinterpret_cast<uintptr_t>(begin) & 15); }
};

// How a warp walks one weight row: in steps of kStepChunks chunks (kChunksPerLane per lane),
// each step's bytes staged in shared memory with 16-byte loads while the previous step decodes.
template <class Traits>
struct RowSteps {
  static constexpr int kChunksPerBlock = Traits::kBlockElems / gguf::kChunk;  // 2 or 16
  static constexpr int kChunksPerLane = 4;
  static constexpr int kStepChunks = kWarp * kChunksPerLane;  // 2048 elements
  static constexpr int kStepBytes = kStepChunks / kChunksPerBlock * Traits::kBlockBytes;
  using Stage = StagedBytes<kWarp, (staged_vecs(kStepBytes) + kWarp - 1) / kWarp>;
};

// Blocks per SM the compiler must leave registers for. Left alone, it keeps four and eight
// tokens' codes of several chunks live at once and reaches 161-165 registers for the larger
// decoders (3 blocks per SM), which starves the 8-token tiles of latency hiding.
constexpr int min_blocks_per_sm(int tile) { return tile >= 4 ? 4 : 1; }

// kSortedBlocks: the map is kSorted and a block walks the groups of one sorted block. A template
// parameter so that the other maps' kernels carry no group loop: with it left to run time, the
// mat-vec took 4-9 % longer on the H200 (library fff2a611 against d9b72b28, 19 types x 4 shapes).
template <class Traits, int kTile, int kRows, bool kSortedBlocks>
__global__ void __launch_bounds__(kWarp * kWarpsPerBlock, min_blocks_per_sm(kTile))
dot_kernel(const uint8_t* __restrict__ w, int64_t expert_bytes, int64_t row_bytes, int n,
           const int8_t* __restrict__ codes, const float* __restrict__ scales, int k, gguf::TokenMap map,
           void* __restrict__ out, gguf::OutDtype out_dtype) {
  using Steps = RowSteps<Traits>;
  using Stage = typename Steps::Stage;
  __shared__ uint4 stage[kWarpsPerBlock][kRows][Stage::kCapacity];
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int row0 = (blockIdx.y * kWarpsPerBlock + warp) * kRows;
  // A block takes one group, or (kSorted) every group of one sorted block in turn: most of a
  // block's groups are empty when few tokens are routed, and a block per group would launch them.
  // Each warp finds which of them hold entries from the block's ids, two per lane (the same
  // answer in every warp), so empty groups cost no memory round trip of their own.
  const int subs = kSortedBlocks ? map.block / map.tile : 1;
  int busy = 1;
  if constexpr (kSortedBlocks) {
    busy = 0;
    const int64_t base = int64_t{blockIdx.x} * map.block;
    if (base < *map.num_post_padded) {
      for (int i = lane; i < map.block; i += kWarp) {
        const int64_t id = base + i < map.sorted_len ? map.sorted_ids[base + i] : -1;
        if (id >= 0 && id < map.routed) busy |= 1 << (i / map.tile);
      }
    }
#pragma unroll
    for (int off = kWarp / 2; off > 0; off /= 2) busy |= shfl_xor(busy, off);
  }
  for (int sub = 0; sub < subs; ++sub) {
    if (!(busy & (1 << sub))) continue;  // the same for the whole block
    const gguf::GroupEntries e = gguf::resolve_group<kTile>(map, int64_t{blockIdx.x} * subs + sub);
    if (e.count == 0) continue;  // the same for the whole block (an expert id out of range)
    // The group's X rows, held in registers for the whole walk.
    const int chunks = k / gguf::kChunk, runs = k / gguf::kQ8Block;
    int x_row[kTile];  // rows of X: below 2^31
#pragma unroll
    for (int t = 0; t < kTile; ++t) x_row[t] = t < e.count ? static_cast<int>(e.x_row[t]) : 0;
    // Warps past the last row still take part in every sync_lanes (a block barrier on HIP).
    const int rows = row0 >= n ? 0 : (n - row0 < kRows ? n - row0 : kRows);
    const uint8_t* wrow0 = w + e.expert * expert_bytes + int64_t{row0 < n ? row0 : 0} * row_bytes;
    const int steps = (chunks + Steps::kStepChunks - 1) / Steps::kStepChunks;

    float acc[kRows][kTile];
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int t = 0; t < kTile; ++t) acc[r][t] = 0.f;

    Stage held[kRows];
    auto step_begin = [&](int r, int s) { return wrow0 + r * row_bytes + int64_t{s} * Steps::kStepBytes; };
    auto fetch = [&](int s) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (r < rows) {
          const uint8_t* row_end = wrow0 + r * row_bytes + row_bytes;
          const uint8_t* begin = step_begin(r, s);
          held[r].fetch(begin, begin + Steps::kStepBytes < row_end ? begin + Steps::kStepBytes : row_end, lane);
        }
      }
    };
    fetch(0);
    wait_for_prerequisite_grid();  // the activation codes are written from here on
    for (int s = 0; s < steps; ++s) {
      sync_lanes();  // the previous step's decode is done with the stage
#pragma unroll
      for (int r = 0; r < kRows; ++r)
        if (r < rows) held[r].store(stage[warp][r], lane);
      sync_lanes();
      if (s + 1 < steps) fetch(s + 1);
      // The step's staged bytes per row, found once per step (not per chunk: the compiler
      // rebuilt the shared-memory address of every decode otherwise).
      const uint8_t* staged[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r)
        staged[r] = reinterpret_cast<const uint8_t*>(stage[warp][r]) + Stage::offset(step_begin(r, s));
      // Each lane takes the two chunks of one 32-element activation run at a time: for every type
      // they lie in one GGUF block (and one 32-element sub-block), so the second decode reuses the
      // first's loads, one x scale serves both, and K (a multiple of 32) needs one bound check per
      // pair. Unrolling the pairs too pays at 1-2 tokens; at 4-8 it only raises register pressure.
#pragma unroll(kTile <= 2 ? Steps::kChunksPerLane / 2 : 1)
      for (int pair = 0; pair < Steps::kChunksPerLane / 2; ++pair) {
        const int local = pair * 2 * kWarp + 2 * lane;  // first chunk of the pair within the step
        const int c = s * Steps::kStepChunks + local;
        if (c >= chunks) continue;
        // A group holds at least one token (empty ones were skipped): a 1-token tile needs no check.
        auto holds = [&](int t) { return kTile == 1 || t < e.count; };
        uint32_t xw[kTile][2][4];
        float xs[kTile];
#pragma unroll
        for (int t = 0; t < kTile; ++t) {
          if (holds(t)) {
            const uint4* xv = reinterpret_cast<const uint4*>(codes + int64_t{x_row[t]} * k + c * gguf::kChunk);
#pragma unroll
            for (int half = 0; half < 2; ++half) {
              const uint4 v = xv[half];
              xw[t][half][0] = v.x, xw[t][half][1] = v.y, xw[t][half][2] = v.z, xw[t][half][3] = v.w;
            }
            xs[t] = scales[int64_t{x_row[t]} * runs + c / 2];
          }
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          if (r < rows) {
            const uint8_t* block = staged[r] + (local / Steps::kChunksPerBlock) * Traits::kBlockBytes;
            gguf::Chunk ch[2];
#pragma unroll
            for (int half = 0; half < 2; ++half) Traits::decode(block, local % Steps::kChunksPerBlock + half, ch[half]);
#pragma unroll
            for (int t = 0; t < kTile; ++t)
              if (holds(t))
                acc[r][t] += xs[t] * (gguf::chunk_dot<Traits>(ch[0], xw[t][0]) + gguf::chunk_dot<Traits>(ch[1], xw[t][1]));
          }
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
        if (lane == 0 && t < e.count && r < rows) store_out(out, out_dtype, e.out_row[t] * n + row0 + r, v);
      }
    }
  }
}

// The dot kernel may overlap the quantize kernel before it (programmatic dependent launch,
// gpu_runtime.h): it then stages its first weight step while the codes are still being written,
// and waits for them before it reads one, so the launch gap and the first DRAM round trip overlap
// the quantization.
template <class Traits, int kTile>
void launch_dot(const uint8_t* w, int64_t expert_bytes, int64_t row_bytes, int n, const int8_t* codes,
                const float* scales, int k, const gguf::TokenMap& map, void* out, gguf::OutDtype dtype,
                int device, gpuStream_t stream) {
  constexpr int kRows = rows_per_warp(kTile);
  constexpr int kRowsPerBlock = kWarpsPerBlock * kRows;
  const int64_t subs = map.mode == gguf::TokenMap::kSorted ? map.block / map.tile : 1;  // groups per block
  const dim3 grid(static_cast<unsigned>((map.groups + subs - 1) / subs),
                  static_cast<unsigned>((n + kRowsPerBlock - 1) / kRowsPerBlock));
  auto launch = [&](auto sorted_blocks) {
    constexpr auto kernel = dot_kernel<Traits, kTile, kRows, decltype(sorted_blocks)::value>;
#ifndef USE_ROCM
    launch_kernel<kernel>(grid, dim3(kWarp * kWarpsPerBlock), 0, stream, dependent_launch_allowed<kernel>(device), w,
                          expert_bytes, row_bytes, n, codes, scales, k, map, out, dtype);
#else
    kernel<<<grid, kWarp * kWarpsPerBlock, 0, stream>>>(w, expert_bytes, row_bytes, n, codes, scales, k, map, out, dtype);
#endif
  };
  if (map.mode == gguf::TokenMap::kSorted) launch(std::true_type{});
  else launch(std::false_type{});
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
    // The kernel holds as many tokens as a group can have: a dense group its tile, a sorted MoE
    // block no more than the routed entries (one token routed to 2 experts: 2 of its 8 slots).
    const int64_t most = map.mode == gguf::TokenMap::kDense ? map.tile : std::min<int64_t>(map.tile, map.routed);
    if (most <= 1) {
      launch_dot<Traits, 1>(w, expert_bytes, row_bytes, n, q, s, k, map, o, dtype, device, stream);
    } else if (most <= 2) {
      launch_dot<Traits, 2>(w, expert_bytes, row_bytes, n, q, s, k, map, o, dtype, device, stream);
    } else if (most <= 4) {
      launch_dot<Traits, 4>(w, expert_bytes, row_bytes, n, q, s, k, map, o, dtype, device, stream);
    } else {
      launch_dot<Traits, gguf::kMaxTile>(w, expert_bytes, row_bytes, n, q, s, k, map, o, dtype, device, stream);
    }
  });
  VLLM_OPS_GPU_CHECK(gpuGetLastError());
}

}  // namespace vllm_ops
