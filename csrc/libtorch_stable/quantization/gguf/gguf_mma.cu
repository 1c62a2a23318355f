// The fused dequantize-and-multiply kernel behind ggml_mul_mat_a8 at moderate token counts and
// ggml_moe_a8 (CUDA, sm_80+): each warp decodes 16 weight rows chunk by chunk with the types'
// decoders (gguf_blocks.h), rounds every weight to X's dtype exactly as ggml_dequantize does, and
// multiplies them by up to 64 tokens of X on the tensor cores (mma.sync m16n8k16, fp32
// accumulation). Nothing is written between the two steps, and X is used as it is (no 8-bit
// activations), so the result is X @ dequant(W)^T with only the order of fp32 additions left
// open. Against the dequantize-then-GEMM path this saves writing and re-reading the fp16 weight
// matrix (2-4 bytes per weight byte); against the integer-dot kernel, every token's dp4a and
// scale arithmetic per chunk (the MoE op at 16 and 512 tokens was compute-bound there).
//
// Layout. The weights are the m16 operand and the tokens the n8 operand (out^T = W X^T), so a
// group of up to 64 tokens is 8 n8 tiles against one decoded 16 x 16 fragment. Lane (g, t) of a
// warp (g = lane / 4, t = lane % 4) decodes one chunk per 32-wide span of K: chunk t / 2 of the
// span, of row g + 8 (t % 2). It keeps the 8 elements its fragments need and swaps the other 8
// with lane ^ 1. Within a span the k order is permuted (a dot product does not care): fragment
// slots 2t, 2t + 1, 2t + 8, 2t + 9 of the span's two mmas are elements 8t .. 8t + 3 and
// 8t + 4 .. 8t + 7, so a lane's B fragments for both mmas are one 16-byte load of X.
//
// Work split. A block has 8 warps: kRowWarps warps of 16 rows each times 8 / kRowWarps slices of
// K (steps of 256 elements taken round-robin); the slices' partial sums are added in shared
// memory in a fixed order, so results are deterministic. The host picks the split from the
// SM count (enough blocks to fill the device, as many rows per block as allow it, since a
// block's warps share X through L1). Each warp copies its rows' bytes of the next steps into a
// private 3-stage ring in shared memory with cp.async (any block size and alignment: the copies
// cover the 16-byte granules holding the range), so it needs no block barrier until the sum.

#include <torch/csrc/stable/accelerator.h>

#include <algorithm>

#include "gguf_gpu.h"

#ifndef USE_ROCM
  #include "../../../gpu_mma.h"
#endif

namespace vllm_ops {

#ifndef USE_ROCM
namespace {

constexpr int kWarp = 32;
constexpr int kWarps = 8;
constexpr int kRowsPerWarp = 16;
constexpr int kMaxTiles = gguf::kFusedGroup / 8;  // n8 tiles of a token group
constexpr int kStepElems = 256;                   // a K-quant super-block, 8 legacy blocks
constexpr int kRingStages = 3;
constexpr int kSpan = 32;  // elements per pair of mmas

template <class Traits>
struct StepLayout {
  static constexpr int kStepBytes = kStepElems / Traits::kBlockElems * Traits::kBlockBytes;
  static constexpr int kVecsPerRow = (kStepBytes + 15) / 16 + 1;  // 16-byte granules covering any range
  static constexpr int kStageVecs = kRowsPerWarp * kVecsPerRow;
  static constexpr int kCopiesPerLane = (kStageVecs + kWarp - 1) / kWarp;
  static constexpr int kRingBytes = kWarps * kRingStages * kStageVecs * 16;
  static constexpr int kSumBytes = kWarps * kMaxTiles * 4 * kWarp * 4;  // every warp's accumulators
  static constexpr int kSmemBytes = kRingBytes > kSumBytes ? kRingBytes : kSumBytes;
};

// Slot s of token group `group`: the X row it reads and the output row it writes, or -1 for an
// empty slot (past the tokens, sorted padding, routing out of range).
struct Slot {
  int x_row = -1;
  int64_t out_row = -1;
};

__device__ __forceinline__ Slot resolve_slot(const gguf::TokenMap& map, int64_t group, int s) {
  Slot r;
  if (map.mode == gguf::TokenMap::kDense) {
    const int64_t token = group * map.tile + s;
    if (token < map.tokens) r.x_row = static_cast<int>(token), r.out_row = token;
  } else {  // kSorted; the block is known to be in use and its expert in range
    const int64_t i = group * map.tile + s;
    if (i < map.sorted_len) {
      const int64_t id = map.sorted_ids[i];
      if (id >= 0 && id < map.routed) r.x_row = static_cast<int>(id / map.top_k), r.out_row = id;
    }
  }
  return r;
}

// Blocks per SM the registers must allow: 8 tiles alone would take 158 registers and leave one
// block; up to 2 tiles fit in 85, so the smaller rings (61 KB for Q4_K) allow three.
constexpr int fused_min_blocks(int tiles) { return tiles <= 2 ? 3 : 2; }

template <class Traits, typename T, int kTiles>
__global__ void __launch_bounds__(kWarp * kWarps, fused_min_blocks(kTiles))
fused_mma_kernel(const uint8_t* __restrict__ w, int64_t expert_bytes, int64_t row_bytes, int n,
                 const T* __restrict__ x, int k, gguf::TokenMap map, int row_warps, T* __restrict__ out) {
  using L = StepLayout<Traits>;
  using TC = TensorCore<T>;
  extern __shared__ uint4 smem[];
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int g = lane / 4, t = lane % 4;
  const int slices = kWarps / row_warps;
  const int row_warp = warp % row_warps, slice = warp / row_warps;
  const int64_t group = blockIdx.y;

  int64_t expert = 0;
  if (map.mode == gguf::TokenMap::kSorted) {
    if (group * map.tile >= *map.num_post_padded) return;  // the same for the whole block
    expert = map.expert_ids[group];
    if (expert < 0 || expert >= map.experts) return;
  }
  const int row0 = (blockIdx.x * row_warps + row_warp) * kRowsPerWarp;
  const uint8_t* rows = w + expert * expert_bytes + int64_t{row0} * row_bytes;
  const int steps = (k + kStepElems - 1) / kStepElems;
  const int my_steps = slice < steps ? (steps - slice + slices - 1) / slices : 0;
  uint4* ring = smem + warp * kRingStages * L::kStageVecs;
  float* sums = reinterpret_cast<float*>(smem);  // the slices' partial sums, after the walk
  const int my_row = g + 8 * (t % 2);            // the row this lane decodes
  const bool odd = t % 2;
  const int row_in_stage = reinterpret_cast<uintptr_t>(rows + my_row * row_bytes) & 15;

  // Copies of the warp's i-th step into ring slot i % kRingStages: the 16-byte granules covering
  // each of its 16 rows' byte range (clipped at the row's end); rows past n get zeros.
  auto copy_step = [&](int i) {
    if (i < my_steps) {
      const int64_t step_offset = int64_t{slice + i * slices} * L::kStepBytes;
      uint4* stage = ring + (i % kRingStages) * L::kStageVecs;
#pragma unroll
      for (int c = 0; c < L::kCopiesPerLane; ++c) {
        const int v = c * kWarp + lane;
        if (v < L::kStageVecs) {
          const int r = v / L::kVecsPerRow, j = v % L::kVecsPerRow;
          const uint8_t* begin = rows + r * row_bytes + step_offset;
          const int64_t left = row_bytes - step_offset;
          const uint8_t* end = begin + (left < L::kStepBytes ? left : L::kStepBytes);
          const auto* granule = reinterpret_cast<const uint4*>(reinterpret_cast<uintptr_t>(begin) & ~uintptr_t{15}) + j;
          const bool ok = row0 + r < n && reinterpret_cast<const uint8_t*>(granule) < end;
          copy_async<16>(stage + v, ok ? static_cast<const void*>(granule) : w, ok);
        }
      }
    }
    commit_async();  // every step, empty or not, so wait_async counts steps
  };

  // The group's slots kTiles * 8 at a time: one pass covers the group when the host's kTiles
  // holds all its tokens (dense groups, evenly routed MoE blocks); a sorted block holding more
  // takes further passes, each walking the weights again.
  for (int first = 0; first < map.tile; first += kTiles * 8) {
    // The lane's B slot in each n8 tile (token first + 8j + g): where its X row starts (at this
    // lane's k offset), and a mask that zeroes the loaded words of an empty slot (which reads row
    // 0 instead, so the loads need no branch).
    const T* x_lane[kTiles];
    uint32_t x_mask[kTiles];
    bool any = false;
#pragma unroll
    for (int j = 0; j < kTiles; ++j) {
      const int row = resolve_slot(map, group, first + 8 * j + g).x_row;
      x_lane[j] = x + int64_t{row >= 0 ? row : 0} * k + 8 * t;
      x_mask[j] = row >= 0 ? 0xffffffffu : 0u;
      any |= row >= 0;
    }
    if (!__syncthreads_or(any)) continue;  // the same for the whole block

    float acc[kTiles][4];
#pragma unroll
    for (int j = 0; j < kTiles; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;

#pragma unroll
    for (int i = 0; i < kRingStages - 1; ++i) copy_step(i);
    for (int i = 0; i < my_steps; ++i) {
      wait_async<kRingStages - 2>();  // this lane's copies of step i have landed
      __syncwarp();                   // and every lane's; step i - 1's slot is free again
      copy_step(i + kRingStages - 1);
      const int step = slice + i * slices;
      // The staged row starts where the row's step range starts within its 16-byte granule.
      const uint8_t* staged_row =
          reinterpret_cast<const uint8_t*>(ring + (i % kRingStages) * L::kStageVecs + my_row * L::kVecsPerRow) +
          ((row_in_stage + step * L::kStepBytes) & 15);
      const int spans = (k - step * kStepElems < kStepElems ? k - step * kStepElems : kStepElems) / kSpan;
#pragma unroll
      for (int p = 0; p < kStepElems / kSpan; ++p) {
        if (p >= spans) break;  // the last step of a K that is not a multiple of 256
        const int kx = step * kStepElems + p * kSpan;
        uint4 b[kTiles];  // issued before the decode, which hides their latency
#pragma unroll
        for (int j = 0; j < kTiles; ++j) {
          b[j] = __ldg(reinterpret_cast<const uint4*>(x_lane[j] + kx));
          b[j].x &= x_mask[j], b[j].y &= x_mask[j], b[j].z &= x_mask[j], b[j].w &= x_mask[j];
        }
        const int chunk = 2 * p + t / 2;  // within the step
        gguf::Chunk ch;
        Traits::decode(staged_row + (chunk * gguf::kChunk / Traits::kBlockElems) * Traits::kBlockBytes,
                       (chunk * gguf::kChunk % Traits::kBlockElems) / gguf::kChunk, ch);
        uint32_t h[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) h[e] = TC::pair(gguf::chunk_element<Traits>(ch, 2 * e), gguf::chunk_element<Traits>(ch, 2 * e + 1));
        // Lane t even decoded row g, odd row g + 8; each needs 8 elements of both rows.
        uint32_t row_g[4], row_g8[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const uint32_t mine = odd ? h[4 + e] : h[e];
          const uint32_t other = __shfl_xor_sync(0xffffffffu, odd ? h[e] : h[4 + e], 1);
          row_g[e] = odd ? other : mine;
          row_g8[e] = odd ? mine : other;
        }
        const uint32_t a0[4] = {row_g[0], row_g8[0], row_g[1], row_g8[1]};
        const uint32_t a1[4] = {row_g[2], row_g8[2], row_g[3], row_g8[3]};
#pragma unroll
        for (int j = 0; j < kTiles; ++j) {
          TC::mma(acc[j], a0, b[j].x, b[j].y);
          TC::mma(acc[j], a1, b[j].z, b[j].w);
        }
      }
    }
    wait_async<0>();  // the empty tail groups too, before the ring's memory is reused

    // The slices' sums, added in slice order by the warps of slice 0.
    if (slices > 1) {
      __syncthreads();
      if (slice > 0) {
#pragma unroll
        for (int j = 0; j < kTiles; ++j)
#pragma unroll
          for (int c = 0; c < 4; ++c) sums[((warp * kTiles + j) * 4 + c) * kWarp + lane] = acc[j][c];
      }
      __syncthreads();
      if (slice == 0) {
        for (int s = 1; s < slices; ++s) {
          const int from = s * row_warps + row_warp;
#pragma unroll
          for (int j = 0; j < kTiles; ++j)
#pragma unroll
            for (int c = 0; c < 4; ++c) acc[j][c] += sums[((from * kTiles + j) * 4 + c) * kWarp + lane];
        }
      }
      __syncthreads();  // the sums are read before the next pass copies into the ring
    }
    // c0, c1: row g, tokens 2t and 2t + 1 of the tile; c2, c3: row g + 8.
    if (slice == 0) {
#pragma unroll
      for (int j = 0; j < kTiles; ++j) {
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const Slot s = resolve_slot(map, group, first + 8 * j + 2 * t + c);
          if (s.out_row < 0) continue;
          T* o = out + s.out_row * n + row0;
          if (row0 + g < n) o[g] = static_cast<T>(acc[j][c]);
          if (row0 + g + 8 < n) o[g + 8] = static_cast<T>(acc[j][2 + c]);
        }
      }
    }
  }
}

// Rows per block: the most (a block's warps share X through L1) that still give every SM a block
// for the groups in use, with no more slices than the K steps; else the fewest rows.
int pick_row_warps(int64_t n, int64_t groups, int sms, int steps) {
  int pick = kWarps;
  for (int rw = kWarps; rw >= 1; rw /= 2) {
    if (rw < kWarps && kWarps / rw > steps) break;
    pick = rw;
    if ((n + rw * kRowsPerWarp - 1) / (rw * kRowsPerWarp) * groups >= sms) break;
  }
  return pick;
}

template <class Traits, typename T, int kTiles>
void launch_fused(const uint8_t* w, int64_t expert_bytes, int64_t row_bytes, int n, const T* x, int k,
                  const gguf::TokenMap& map, int64_t groups_in_use, T* out, int device, gpuStream_t stream) {
  using L = StepLayout<Traits>;
  constexpr auto kernel = fused_mma_kernel<Traits, T, kTiles>;
  static bool configured[64] = {};  // per device: the dynamic shared memory above 48 KB allowed
  if (L::kSmemBytes > 48 * 1024 && !(device >= 0 && device < 64 && configured[device])) {
    VLLM_OPS_GPU_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, L::kSmemBytes));
    if (device >= 0 && device < 64) configured[device] = true;
  }
  const int steps = (k + kStepElems - 1) / kStepElems;
  const int row_warps = pick_row_warps(n, groups_in_use, multiprocessor_count(device), steps);
  const int rows_per_block = row_warps * kRowsPerWarp;
  const dim3 grid(static_cast<unsigned>((n + rows_per_block - 1) / rows_per_block), static_cast<unsigned>(map.groups));
  kernel<<<grid, kWarp * kWarps, L::kSmemBytes, stream>>>(w, expert_bytes, row_bytes, n, x, k, map, row_warps, out);
}

// The n8 tiles per pass: a dense group's tokens; for sorted blocks the routed entries per expert
// (an even spread; a fuller block takes more passes), and never more than a block holds. Rounded
// up to a power of two.
template <class Traits, typename T>
void launch_fused_tiles(const uint8_t* w, int64_t expert_bytes, int64_t row_bytes, int n, const T* x, int k,
                        const gguf::TokenMap& map, int64_t groups_in_use, T* out, int device, gpuStream_t stream) {
  const int64_t most = std::min<int64_t>(
      map.tile, map.mode == gguf::TokenMap::kDense ? map.tokens : (map.routed + map.experts - 1) / map.experts);
  if (most <= 8) {
    launch_fused<Traits, T, 1>(w, expert_bytes, row_bytes, n, x, k, map, groups_in_use, out, device, stream);
  } else if (most <= 16) {
    launch_fused<Traits, T, 2>(w, expert_bytes, row_bytes, n, x, k, map, groups_in_use, out, device, stream);
  } else if (most <= 32) {
    launch_fused<Traits, T, 4>(w, expert_bytes, row_bytes, n, x, k, map, groups_in_use, out, device, stream);
  } else {
    launch_fused<Traits, T, kMaxTiles>(w, expert_bytes, row_bytes, n, x, k, map, groups_in_use, out, device, stream);
  }
}

// ggml_moe_a8_vec's routing as sorted blocks for the fused kernel (what ggml_moe_a8's caller
// passes, built on the device so the op needs no host sync): each expert's (token, k) entries in
// order, padded with `routed` to whole blocks of kMoeBlock, the blocks' experts, and their total.
// One thread block; each warp takes experts in turn and finds their entries with ballots, so the
// order is deterministic. Ids outside [0, experts) match no expert: those rows stay zero, as on
// the integer-dot path.
constexpr int kRouteThreads = 1024;

__global__ void route_by_expert_kernel(const int32_t* __restrict__ topk_ids, int routed, int experts,
                                       int32_t* __restrict__ sorted, int32_t* __restrict__ block_expert,
                                       int32_t* __restrict__ num_post_padded) {
  extern __shared__ int32_t first_block[];  // experts + 1: where each expert's blocks begin
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, warps = blockDim.x / kWarp;
  auto matches = [&](int base, int e) {
    const int i = base + lane;
    return __ballot_sync(0xffffffffu, i < routed && topk_ids[i] == e);
  };
  for (int e = warp; e < experts; e += warps) {
    int count = 0;
    for (int base = 0; base < routed; base += kWarp) count += __popc(matches(base, e));
    if (lane == 0) first_block[e + 1] = (count + gguf::kMoeBlock - 1) / gguf::kMoeBlock;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    first_block[0] = 0;
    for (int e = 0; e < experts; ++e) first_block[e + 1] += first_block[e];
    *num_post_padded = first_block[experts] * gguf::kMoeBlock;
  }
  __syncthreads();
  for (int e = warp; e < experts; e += warps) {
    int pos = first_block[e] * gguf::kMoeBlock;
    for (int base = 0; base < routed; base += kWarp) {
      const unsigned m = matches(base, e);
      if (m & (1u << lane)) sorted[pos + __popc(m & ((1u << lane) - 1))] = base + lane;
      pos += __popc(m);
    }
    for (int p = pos + lane; p < first_block[e + 1] * gguf::kMoeBlock; p += kWarp) sorted[p] = routed;
    for (int b = first_block[e] + lane; b < first_block[e + 1]; b += kWarp) block_expert[b] = e;
  }
}

}  // namespace
#endif  // USE_ROCM

bool GgufLauncher<GpuBackend>::fused_matmul(const Tensor& W, int64_t type, const Tensor& X, const gguf::TokenMap& map,
                                            int64_t groups_in_use, Tensor& out) {
#ifdef USE_ROCM
  return false;
#else
  using torch::headeronly::ScalarType;
  const int device = W.get_device_index();
  const bool half_types = X.scalar_type() == ScalarType::Half || X.scalar_type() == ScalarType::BFloat16;
  // 32-bit X rows and K; 16-byte loads of X; cp.async and bf16 mma need sm_80.
  if (!half_types || !is_aligned(X.const_data_ptr(), 16) || X.numel() >= (int64_t{1} << 31) ||
      W.size(1) >= (int64_t{1} << 31) || compute_capability_major(device) < 8)
    return false;
  torch::stable::accelerator::DeviceGuard guard(device);
  const gpuStream_t stream = current_gpu_stream(device);
  gguf::TokenMap sorted_map = map;
  Tensor routing;  // kTopk: the sorted blocks built here, alive until the kernel is queued
  if (map.mode == gguf::TokenMap::kTopk) {
    const int64_t capacity = (map.routed + map.experts * (gguf::kMoeBlock - 1) + gguf::kMoeBlock - 1) /
                             gguf::kMoeBlock * gguf::kMoeBlock;
    if (capacity >= (int64_t{1} << 31) || map.experts > 48 * 1024 / 4 - 1) return false;
    const int64_t blocks = capacity / gguf::kMoeBlock;
    routing = torch::stable::new_empty(X, {capacity + blocks + 1}, ScalarType::Int);
    auto* sorted = static_cast<int32_t*>(routing.mutable_data_ptr());
    route_by_expert_kernel<<<1, kRouteThreads, (map.experts + 1) * sizeof(int32_t), stream>>>(
        map.topk_ids, static_cast<int>(map.routed), static_cast<int>(map.experts), sorted, sorted + capacity,
        sorted + capacity + blocks);
    sorted_map.mode = gguf::TokenMap::kSorted;
    sorted_map.tile = sorted_map.block = gguf::kMoeBlock;
    sorted_map.sorted_len = capacity;
    sorted_map.groups = blocks;
    sorted_map.sorted_ids = sorted;
    sorted_map.expert_ids = sorted + capacity;
    sorted_map.num_post_padded = sorted + capacity + blocks;
    groups_in_use = std::min<int64_t>(blocks, map.routed / gguf::kMoeBlock + map.experts);
  }
  const int n = static_cast<int>(W.size(1)), k = static_cast<int>(X.size(1));
  const int64_t row_bytes = W.size(2), expert_bytes = W.size(1) * W.size(2);
  const auto* w = static_cast<const uint8_t*>(W.const_data_ptr());
  gguf::dispatch_type<true>("ggml matmul", type, [&](auto traits) {
    using Traits = decltype(traits);
    if (X.scalar_type() == ScalarType::Half) {
      using T = torch::headeronly::Half;
      launch_fused_tiles<Traits, T>(w, expert_bytes, row_bytes, n, static_cast<const T*>(X.const_data_ptr()), k, sorted_map,
                                          groups_in_use, static_cast<T*>(out.mutable_data_ptr()), device, stream);
    } else {
      using T = torch::headeronly::BFloat16;
      launch_fused_tiles<Traits, T>(w, expert_bytes, row_bytes, n, static_cast<const T*>(X.const_data_ptr()), k, sorted_map,
                                          groups_in_use, static_cast<T*>(out.mutable_data_ptr()), device, stream);
    }
  });
  VLLM_OPS_GPU_CHECK(gpuGetLastError());
  return true;
#endif
}

}  // namespace vllm_ops
