#pragma once
// The K-quants: 256-element super-blocks with an fp16 super-scale and 6- or 8-bit sub-block
// scales (16 or 32 elements each). Offsets in bytes from the block start.

#include "../gguf_blocks.h"

namespace vllm_ops::gguf::types {

// Q2_K and Q3_K pack four 2-bit planes: byte b of 32-byte group g holds, in bits 2s..2s+1,
// element 128 g + 32 s + b. Chunk c is group c / 8, plane (c % 8) / 2, bytes 16 (c % 2) onwards.
template <int kAlign>
VLLM_OPS_HOST_DEVICE void two_bit_planes(const uint8_t* qs, int c, Chunk& out) {
  const uint8_t* p = qs + 32 * (c / 8) + 16 * (c % 2);
  const int shift = 2 * ((c % 8) / 2);
  load_words<kAlign>(p, out.w);
  for (int j = 0; j < 4; ++j) out.w[j] = (out.w[j] >> shift) & 0x03030303u;
}

// One bit per element from 32 bytes: bit i of byte b is element 32 i + b. Returns the flags of
// chunk c as byte lanes (0 or 1) in w.
template <int kAlign>
VLLM_OPS_HOST_DEVICE void bit_plane(const uint8_t* bits, int c, uint32_t (&w)[4]) {
  load_words<kAlign>(bits + 16 * (c % 2), w);
  for (int j = 0; j < 4; ++j) w[j] = (w[j] >> (c / 2)) & 0x01010101u;
}

// Q4_K and Q5_K nibbles: 32-byte group g holds elements 64 g + b (low nibble) and 64 g + 32 + b
// (high nibble).
template <int kAlign>
VLLM_OPS_HOST_DEVICE void k_nibbles(const uint8_t* qs, int c, Chunk& out) {
  const uint8_t* p = qs + 32 * (c / 4) + 16 * (c % 2);
  const int shift = 4 * ((c / 2) % 2);
  load_words<kAlign>(p, out.w);
  for (int j = 0; j < 4; ++j) out.w[j] = (out.w[j] >> shift) & 0x0F0F0F0Fu;
}

// The 6-bit scale and minimum of 32-element sub-block j from Q4_K/Q5_K's 12 scale bytes at s
// (4-byte aligned): for j < 4 the low 6 bits of bytes j and j + 4; for j >= 4 the nibbles of byte
// j + 4 with the top 2 bits of bytes j - 4 (scale) and j (minimum) above them. Read as three
// words and selected without branches: j varies across the lanes of a warp.
VLLM_OPS_HOST_DEVICE void k_scale_min(const uint8_t* s, int j, int& sc, int& mn) {
  const int shift = 8 * (j & 3);
  const uint32_t lo = load_u32<4>(s) >> shift, mid = load_u32<4>(s + 4) >> shift, hi = load_u32<4>(s + 8) >> shift;
  const bool first_half = j < 4;
  sc = static_cast<int>(first_half ? lo & 63 : (hi & 0xF) | ((lo >> 2) & 0x30));
  mn = static_cast<int>(first_half ? mid & 63 : ((hi >> 4) & 0xF) | ((mid >> 2) & 0x30));
}

struct Q2_K {  // scales: 16 bytes @0 (low nibble scale, high nibble min), qs @16, d @80, dmin @82
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 256, kBlockBytes = 16 + 64 + 2 + 2, kAlign = 4;
  static constexpr bool kHasOffset = true;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    two_bit_planes<kAlign>(b + 16, c, out);
    const int sc = b[c];
    out.scale = mul_rn(load_half(b + 80), static_cast<float>(sc & 0xF));
    out.offset = -mul_rn(load_half(b + 82), static_cast<float>(sc >> 4));
  }
};

struct Q3_K {  // hmask @0, qs @32, scales: 12 bytes of 6-bit values @96, d @108
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 256, kBlockBytes = 32 + 64 + 12 + 2, kAlign = 2;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    // element = d * (scale - 32) * (low2 - (hmask bit clear ? 4 : 0)) = ... * ((low2 | h << 2) - 4)
    two_bit_planes<kAlign>(b + 32, c, out);
    uint32_t h[4];
    bit_plane<kAlign>(b, c, h);
    for (int j = 0; j < 4; ++j) out.w[j] = centered<3>(out.w[j] | (h[j] << 2));
    const uint8_t* s = b + 96;
    const int sc = (((s[c % 8] >> (4 * (c / 8))) & 0xF) | (((s[8 + c % 4] >> (2 * (c / 4))) & 3) << 4)) - 32;
    out.scale = mul_rn(load_half(b + 108), static_cast<float>(sc));
    out.offset = 0.f;
  }
};

struct Q4_K {  // d @0, dmin @2, scales: 12 bytes @4, qs @16; element = d sc q - dmin m
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 256, kBlockBytes = 2 + 2 + 12 + 128, kAlign = 4;
  static constexpr bool kHasOffset = true;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    k_nibbles<kAlign>(b + 16, c, out);
    int sc, mn;
    k_scale_min(b + 4, c / 2, sc, mn);
    out.scale = mul_rn(load_half(b), static_cast<float>(sc));
    out.offset = -mul_rn(load_half(b + 2), static_cast<float>(mn));
  }
};

struct Q5_K {  // d @0, dmin @2, scales @4, qh @16, qs @48; element = d sc (q | h << 4) - dmin m
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 256, kBlockBytes = 2 + 2 + 12 + 32 + 128, kAlign = 4;
  static constexpr bool kHasOffset = true;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    k_nibbles<kAlign>(b + 48, c, out);
    uint32_t h[4];
    bit_plane<kAlign>(b + 16, c, h);
    for (int j = 0; j < 4; ++j) out.w[j] |= h[j] << 4;
    int sc, mn;
    k_scale_min(b + 4, c / 2, sc, mn);
    out.scale = mul_rn(load_half(b), static_cast<float>(sc));
    out.offset = -mul_rn(load_half(b + 2), static_cast<float>(mn));
  }
};

struct Q6_K {  // ql @0, qh @128, scales: 16 int8 @192, d @208; element = d sc ((ql | qh << 4) - 32)
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 256, kBlockBytes = 128 + 64 + 16 + 2, kAlign = 2;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    // Half h = c / 8 of the block: ql bytes 64 h.. (low nibbles: elements +0..63, high: +64..127),
    // qh bytes 128 + 32 h.. (2-bit planes of 32 elements).
    const int half = c / 8, r = c % 8;
    const uint8_t* ql = b + 64 * half + 16 * (r % 4);
    const uint8_t* qh = b + 128 + 32 * half + 16 * (r % 2);
    uint32_t low_words[4], high_words[4];
    load_words<kAlign>(ql, low_words);
    load_words<kAlign>(qh, high_words);
    for (int j = 0; j < 4; ++j) {
      const uint32_t lo = (low_words[j] >> (4 * (r / 4))) & 0x0F0F0F0Fu;
      const uint32_t hi = (high_words[j] >> (2 * (r / 2))) & 0x03030303u;
      out.w[j] = centered<6>(lo | (hi << 4));
    }
    out.scale = mul_rn(load_half(b + 208), static_cast<float>(static_cast<int8_t>(b[192 + c])));
    out.offset = 0.f;
  }
};

}  // namespace vllm_ops::gguf::types
