#pragma once
// The i-quants: 256-element blocks whose elements come from lattice grids (IQ1/IQ2/IQ3, 8 or 4
// values per grid row, gguf_grids.h) with sign bits, or from a non-linear 16-entry table (IQ4).
// Offsets in bytes from the block start.

#include "../gguf_blocks.h"
#include "../gguf_grids.h"
#include "legacy.h"

namespace vllm_ops::gguf::types {

// IQ4's non-linear values, indexed by the 4-bit code.
alignas(4) VLLM_OPS_GGUF_TABLE int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                               1,    13,   25,  38,  53,  69,  89,  113};

// An 8-value grid row (magnitudes) with 8 sign bits applied, into two words of chunk lanes.
VLLM_OPS_HOST_DEVICE void signed_row8(uint64_t row, uint32_t signs, uint32_t* w) {
  w[0] = apply_signs4(static_cast<uint32_t>(row), signs & 0xF);
  w[1] = apply_signs4(static_cast<uint32_t>(row >> 32), (signs >> 4) & 0xF);
}

// (0.5 + s) / 4 or / 2 times d: the IQ2 and IQ3_XXS sub-block scale, in the reference's order.
VLLM_OPS_HOST_DEVICE float half_step_scale(float d, uint32_t s, float step) {
  return mul_rn(mul_rn(d, 0.5f + static_cast<float>(s)), step);
}

struct IQ2_XXS {  // d @0, then per 32 elements two u32: 4 grid indices; 4 x 7 sign bits + scale
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 256, kBlockBytes = 2 + 64, kAlign = 2;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    const uint8_t* q = b + 2 + 8 * (c / 2);
    const uint32_t idx = load_u32<kAlign>(q), aux = load_u32<kAlign>(q + 4);
    for (int g = 0; g < 2; ++g) {
      const int l = 2 * (c % 2) + g;  // 8-element group within the 32
      signed_row8(VLLM_OPS_GGUF_LOOKUP(kIq2xxsGrid, (idx >> (8 * l)) & 0xFF),
                  sign_byte((aux >> (7 * l)) & 0x7F), out.w + 2 * g);
    }
    out.scale = half_step_scale(load_half(b), aux >> 28, 0.25f);
    out.offset = 0.f;
  }
};

struct IQ2_XS {  // d @0, qs: 32 u16 (9-bit grid index, 7 sign bits) @2, scales: 8 bytes @66
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 256, kBlockBytes = 2 + 64 + 8, kAlign = 2;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    for (int g = 0; g < 2; ++g) {
      const uint32_t v = load_u16(b + 2 + 2 * (2 * c + g));
      signed_row8(VLLM_OPS_GGUF_LOOKUP(kIq2xsGrid, v & 511), sign_byte(v >> 9), out.w + 2 * g);
    }
    out.scale = half_step_scale(load_half(b), (b[66 + c / 2] >> (4 * (c % 2))) & 0xF, 0.25f);
    out.offset = 0.f;
  }
};

struct IQ2_S {  // d @0, qs @2, signs @34, qh: 2 index bits per group @66, scales @74
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 256, kBlockBytes = 2 + 32 + 32 + 8 + 8, kAlign = 2;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    for (int g = 0; g < 2; ++g) {
      const int i = 2 * c + g;  // 8-element group
      const uint32_t index = b[2 + i] | (((b[66 + i / 4] >> (2 * (i % 4))) & 3) << 8);
      signed_row8(VLLM_OPS_GGUF_LOOKUP(kIq2sGrid, index), b[34 + i], out.w + 2 * g);
    }
    out.scale = half_step_scale(load_half(b), (b[74 + c / 2] >> (4 * (c % 2))) & 0xF, 0.25f);
    out.offset = 0.f;
  }
};

struct IQ3_XXS {  // d @0, qs: 64 grid indices @2, per 32 elements a u32 of 4 x 7 sign bits + scale @66
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 256, kBlockBytes = 2 + 64 + 32, kAlign = 2;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    const uint32_t aux = load_u32<kAlign>(b + 66 + 4 * (c / 2));
    for (int j = 0; j < 4; ++j) {
      const int l = 2 * (c % 2) + j / 2;  // 8-element sign group
      const uint32_t signs = sign_byte((aux >> (7 * l)) & 0x7F) >> (4 * (j % 2));
      out.w[j] = apply_signs4(VLLM_OPS_GGUF_LOOKUP(kIq3xxsGrid, b[2 + 4 * c + j]), signs & 0xF);
    }
    out.scale = half_step_scale(load_half(b), aux >> 28, 0.5f);
    out.offset = 0.f;
  }
};

struct IQ3_S {  // d @0, qs @2, qh: 9th index bits @66, signs @74, scales: 4-bit @106
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 256, kBlockBytes = 2 + 64 + 8 + 32 + 4, kAlign = 2;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    for (int j = 0; j < 4; ++j) {
      const int i = 4 * c + j;  // 4-element group
      const uint32_t index = b[2 + i] | (((b[66 + i / 8] >> (i % 8)) & 1) << 8);
      const uint32_t signs = (b[74 + i / 2] >> (4 * (i % 2))) & 0xF;
      out.w[j] = apply_signs4(VLLM_OPS_GGUF_LOOKUP(kIq3sGrid, index), signs);
    }
    const int ib = c / 2;  // 32-element sub-block
    out.scale = mul_rn(load_half(b), static_cast<float>(1 + 2 * ((b[106 + ib / 2] >> (4 * (ib % 2))) & 0xF)));
    out.offset = 0.f;
  }
};

// IQ1 grid rows hold -1/0/1; with the sub-block's +-1/8 shift an element is
// dl * (grid + delta) = (dl / 8) * (8 grid + 8 delta), an exact rescaling.
VLLM_OPS_HOST_DEVICE void iq1_row8(uint64_t row, int delta8, uint32_t* w) {
  int v[8];
  for (int k = 0; k < 8; ++k) v[k] = 8 * static_cast<int8_t>(row >> (8 * k)) + delta8;
  w[0] = pack4(v[0], v[1], v[2], v[3]);
  w[1] = pack4(v[4], v[5], v[6], v[7]);
}

struct IQ1_S {  // d @0, qs: 32 grid index bytes @2, qh: per 32 elements a u16 @34
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 256, kBlockBytes = 2 + 32 + 16, kAlign = 2;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    // qh: 3 high index bits per 8-element group (bits 0-11), 3-bit scale (12-14), delta sign (15)
    const uint32_t qh = load_u16(b + 34 + 2 * (c / 2));
    const int delta8 = (qh & 0x8000) ? -1 : 1;
    for (int g = 0; g < 2; ++g) {
      const int l = 2 * (c % 2) + g;
      const uint32_t index = b[2 + 4 * (c / 2) + l] | (((qh >> (3 * l)) & 7) << 8);
      iq1_row8(VLLM_OPS_GGUF_LOOKUP(kIq1sGrid, index), delta8, out.w + 2 * g);
    }
    const float dl = mul_rn(load_half(b), static_cast<float>(2 * ((qh >> 12) & 7) + 1));
    out.scale = mul_rn(dl, 0.125f);
    out.offset = 0.f;
  }
};

struct IQ1_M {  // qs @0, qh: 4 bits per 8-element group @32, scales: 4 u16 @48 (3-bit scales; fp16 d in the top nibbles)
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 256, kBlockBytes = 32 + 16 + 8, kAlign = 4;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    uint32_t s[4];
    for (int i = 0; i < 4; ++i) s[i] = load_u16(b + 48 + 2 * i);
    const uint32_t d_bits = (s[0] >> 12) | ((s[1] >> 8) & 0xF0) | ((s[2] >> 4) & 0xF00) | (s[3] & 0xF000);
    for (int g = 0; g < 2; ++g) {
      const int i = 2 * c + g;  // 8-element group
      const uint32_t h = (b[32 + i / 2] >> (4 * (i % 2))) & 0xF;
      const uint32_t index = b[i] | ((h & 7) << 8);
      iq1_row8(VLLM_OPS_GGUF_LOOKUP(kIq1sGrid, index), (h & 8) ? -1 : 1, out.w + 2 * g);
    }
    const uint32_t sc = (s[c / 4] >> (3 * (c % 4))) & 7;  // one 3-bit scale per 16 elements
    const float dl = mul_rn(half_bits_to_float(d_bits), static_cast<float>(2 * sc + 1));
    out.scale = mul_rn(dl, 0.125f);
    out.offset = 0.f;
  }
};

struct IQ4_NL {  // d @0, qs @2 (Q4_0's nibble order); element = d * kIq4nlValues[code]
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 32, kBlockBytes = 2 + 16, kAlign = 2;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    table_nibbles<kAlign>(b + 2, c, kIq4nlValues, out);
    out.scale = load_half(b);
    out.offset = 0.f;
  }
};

struct IQ4_XS {  // d @0, scales_h: u16 @2, scales_l: 4 bytes @4, qs: 16 bytes per 32 elements @8
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 256, kBlockBytes = 2 + 2 + 4 + 128, kAlign = 4;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    const int ib = c / 2;
    table_nibbles<kAlign>(b + 8 + 16 * ib, c % 2, kIq4nlValues, out);
    const int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((load_u16(b + 2) >> (2 * ib)) & 3) << 4);
    out.scale = mul_rn(load_half(b), static_cast<float>(ls - 32));
    out.offset = 0.f;
  }
};

}  // namespace vllm_ops::gguf::types
