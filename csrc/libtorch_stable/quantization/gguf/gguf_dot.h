#pragma once
// The matmuls' arithmetic, shared by the CPU loops and the GPU kernels: activations quantized
// to 8-bit blocks, and the integer dot product of one decoded weight chunk with them.
//
// Activations: each run of kQ8Block (32) values of a row of X becomes int8 codes and one fp32
// scale, code = rint(x / scale) with scale = max|x| / 127 (all-zero runs: scale 0, codes 0).
// A weight chunk (gguf_blocks.h) then contributes
//     x_scale * (chunk.scale * sum(q * code) + chunk.offset * sum(code)),
// the sums exact in int32.

#include <cmath>
#include <cstdint>

#include "../../../int8_dot.h"
#include "gguf_blocks.h"

namespace vllm_ops::gguf {

constexpr int kQ8Block = 32;
constexpr int kMaxTile = 8;      // tokens per weight read in the integer-dot kernels
constexpr int kFusedGroup = 64;  // tokens per weight read in the fused tensor-core kernel (gguf_mma.cu)
// ggml_moe_get_block_size: one sorted block is one group of the fused kernel (8 tiles of the
// integer-dot kernels, which take it a tile at a time).
constexpr int kMoeBlock = kFusedGroup;
static_assert(kMoeBlock % kMaxTile == 0 && kMoeBlock / kMaxTile <= 31, "a sorted block is whole tiles, one bit each");

// Which output rows a group of a matmul kernel computes, and from which X rows and expert.
// Group g of kDense: tokens tile * g.. (X row = output row). kSorted (ggml_moe_a8): sorted
// entries tile * g.., each a flat (token, k) index id, padding when id >= routed: X row
// id / top_k, output row id, expert expert_ids[g * tile / block] (a sorted block of `block`
// entries is block / tile groups); groups at or past *num_post_padded are empty. kTopk
// (ggml_moe_a8_vec): group g is entry g of topk_ids.
struct TokenMap {
  enum Mode { kDense, kSorted, kTopk } mode = kDense;
  int64_t tokens = 0;  // rows of X
  int64_t groups = 0;
  int tile = 1;        // entries per group: at most kMaxTile (integer-dot), kFusedGroup (fused)
  int block = 1;       // kSorted: entries per expert_ids entry, a multiple of tile
  int64_t routed = 0;  // kSorted, kTopk: output rows, tokens * top_k
  int64_t top_k = 1;
  int64_t experts = 1;
  int64_t sorted_len = 0;
  const int32_t* sorted_ids = nullptr;
  const int32_t* expert_ids = nullptr;
  const int32_t* num_post_padded = nullptr;
  const int32_t* topk_ids = nullptr;
};

// One group resolved, at most kCap entries. Entries whose routing is out of range are dropped
// (their rows stay zero): the CPU backend rejects such routing before it gets here; a GPU kernel
// cannot raise. A GPU kernel sized for kCap < kMaxTile tokens (chosen from the routed count)
// also drops entries past kCap, which only routing that names one (token, k) pair twice makes.
struct GroupEntries {
  int count = 0;
  int64_t expert = 0;
  int64_t x_row[kMaxTile];
  int64_t out_row[kMaxTile];
};

template <int kCap = kMaxTile>
VLLM_OPS_HOST_DEVICE GroupEntries resolve_group(const TokenMap& map, int64_t g) {
  GroupEntries e;
  if (map.mode == TokenMap::kDense) {
    const int64_t end = map.tokens < (g + 1) * map.tile ? map.tokens : (g + 1) * map.tile;
    for (int64_t t = g * map.tile; t < end; ++t) {
      e.x_row[e.count] = e.out_row[e.count] = t;
      ++e.count;
    }
  } else if (map.mode == TokenMap::kSorted) {
    if (g * map.tile >= *map.num_post_padded) return e;
    e.expert = map.expert_ids[g * map.tile / map.block];
    if (e.expert < 0 || e.expert >= map.experts) return e;
    // All of the group's ids loaded first (independent loads, one memory round trip on a GPU),
    // then the valid ones kept in order.
    int64_t ids[kMaxTile];
    for (int j = 0; j < kMaxTile; ++j) {
      const int64_t i = g * map.tile + j;
      ids[j] = j < map.tile && i < map.sorted_len ? map.sorted_ids[i] : -1;
    }
    for (int j = 0; j < kMaxTile; ++j) {
      const int64_t id = ids[j];
      if (id < 0 || id >= map.routed || e.count >= kCap) continue;  // padding
      e.x_row[e.count] = id / map.top_k;
      e.out_row[e.count] = id;
      ++e.count;
    }
  } else {
    e.expert = map.topk_ids[g];
    if (e.expert < 0 || e.expert >= map.experts) return e;
    e.x_row[0] = g / map.top_k;
    e.out_row[0] = g;
    e.count = 1;
  }
  return e;
}

VLLM_OPS_HOST_DEVICE float q8_scale(float amax) { return amax / 127.f; }

VLLM_OPS_HOST_DEVICE int32_t q8_code(float x, float scale) {
  return scale == 0.f ? 0 : static_cast<int32_t>(rintf(x / scale));
}

// One chunk against 16 activation codes (four words of int8 lanes), before the x scale.
template <class Traits>
VLLM_OPS_HOST_DEVICE float chunk_dot(const Chunk& w, const uint32_t* x) {
  int32_t dot = 0;
  for (int j = 0; j < 4; ++j) dot = dot4_i8(static_cast<int32_t>(w.w[j]), static_cast<int32_t>(x[j]), dot);
  float r = w.scale * static_cast<float>(dot);
  if constexpr (Traits::kHasOffset) {
    int32_t sum = 0;
    for (int j = 0; j < 4; ++j) sum = dot4_i8(0x01010101, static_cast<int32_t>(x[j]), sum);
    r += w.offset * static_cast<float>(sum);
  }
  return r;
}

// Element k of a decoded chunk, in the reference's rounding order (see gguf_blocks.h). The
// offset-free types add nothing, as the reference does not: adding their 0 would turn a -0 into
// +0 and costs one instruction per element.
template <class Traits>
VLLM_OPS_HOST_DEVICE float chunk_element(const Chunk& w, int k) {
  const float scaled = mul_rn(w.scale, lane_to_float(w.w[k / 4], k % 4));
  if constexpr (Traits::kHasOffset) return add_rn(scaled, w.offset);
  else return scaled;
}

}  // namespace vllm_ops::gguf
