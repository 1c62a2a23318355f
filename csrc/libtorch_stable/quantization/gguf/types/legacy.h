#pragma once
// The 32-element formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (one fp16 scale, optionally an fp16
// minimum, per block) and MXFP4 (an E8M0 exponent and E2M1 codes). Block layouts are the GGML
// format's; offsets are in bytes from the block start.

#include "../gguf_blocks.h"

namespace vllm_ops::gguf::types {

// Low (chunk 0) or high (chunk 1) nibbles of the 16 bytes at qs: elements 0-15 of a 32-element
// block are the low nibbles, 16-31 the high ones.
template <int kAlign>
VLLM_OPS_HOST_DEVICE void nibbles(const uint8_t* qs, int c, Chunk& out) {
  load_words<kAlign>(qs, out.w);
  for (int j = 0; j < 4; ++j) out.w[j] = (out.w[j] >> (4 * c)) & 0x0F0F0F0Fu;
}

// Q5's fifth bits: bit e of the 32-bit word qh belongs to element e.
VLLM_OPS_HOST_DEVICE void add_fifth_bits(uint32_t qh, int c, Chunk& out) {
  for (int j = 0; j < 4; ++j) out.w[j] |= spread4(qh >> (16 * c + 4 * j)) << 4;
}

struct Q4_0 {  // d: fp16 @0, qs: 16 bytes @2; element = d * (nibble - 8)
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 32, kBlockBytes = 2 + 16, kAlign = 2;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    nibbles<kAlign>(b + 2, c, out);
    for (int j = 0; j < 4; ++j) out.w[j] = centered<4>(out.w[j]);
    out.scale = load_half(b);
    out.offset = 0.f;
  }
};

struct Q4_1 {  // d @0, m @2, qs @4; element = d * nibble + m
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 32, kBlockBytes = 2 + 2 + 16, kAlign = 4;
  static constexpr bool kHasOffset = true;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    nibbles<kAlign>(b + 4, c, out);
    out.scale = load_half(b);
    out.offset = load_half(b + 2);
  }
};

struct Q5_0 {  // d @0, qh: u32 @2, qs @6; element = d * ((nibble | bit << 4) - 16)
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 32, kBlockBytes = 2 + 4 + 16, kAlign = 2;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    uint32_t run[5];  // qh and qs: one run of words
    load_words<kAlign>(b + 2, run);
    for (int j = 0; j < 4; ++j) out.w[j] = (run[1 + j] >> (4 * c)) & 0x0F0F0F0Fu;
    add_fifth_bits(run[0], c, out);
    for (int j = 0; j < 4; ++j) out.w[j] = centered<5>(out.w[j]);
    out.scale = load_half(b);
    out.offset = 0.f;
  }
};

struct Q5_1 {  // d @0, m @2, qh @4, qs @8; element = d * (nibble | bit << 4) + m
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 32, kBlockBytes = 2 + 2 + 4 + 16, kAlign = 4;
  static constexpr bool kHasOffset = true;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    nibbles<kAlign>(b + 8, c, out);
    add_fifth_bits(load_u32<kAlign>(b + 4), c, out);
    out.scale = load_half(b);
    out.offset = load_half(b + 2);
  }
};

struct Q8_0 {  // d @0, qs: 32 int8 @2; element = d * q
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 32, kBlockBytes = 2 + 32, kAlign = 2;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    load_words<kAlign>(b + 2 + 16 * c, out.w);
    out.scale = load_half(b);
    out.offset = 0.f;
  }
};

// MXFP4's doubled E2M1 values, indexed by the 4-bit code. The 16-entry tables are 4-byte
// aligned: lookup4 reads them as four words on CUDA.
alignas(4) VLLM_OPS_GGUF_TABLE int8_t kMxfp4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// Byte lanes of 4-bit codes, each replaced by its entry in a 16-entry int8 table. On CUDA the
// table is held as four words and each lane picked by byte permutes: the codes' low 3 bits become
// the selector nibbles of one permute over entries 0-7 and one over 8-15, and bit 3 chooses
// between them. About ten instructions per word instead of four dependent table loads.
template <class Table>
VLLM_OPS_HOST_DEVICE uint32_t lookup4(const Table& table, uint32_t codes) {
#if defined(__CUDA_ARCH__)
  const uint32_t* words = reinterpret_cast<const uint32_t*>(table);
  const uint32_t low3 = codes & 0x07070707u;
  const uint32_t selector = __byte_perm(low3 | (low3 >> 4), 0, 0x4420);  // nibble k: lane k's low 3 bits
  const uint32_t from_low = __byte_perm(words[0], words[1], selector);
  const uint32_t from_high = __byte_perm(words[2], words[3], selector);
  const uint32_t high = ((codes >> 3) & 0x01010101u) * 0xFFu;  // 0xFF in lanes with bit 3 set
  return (from_high & high) | (from_low & ~high);
#else
  return pack4(VLLM_OPS_GGUF_LOOKUP(table, codes & 0xF), VLLM_OPS_GGUF_LOOKUP(table, (codes >> 8) & 0xF),
               VLLM_OPS_GGUF_LOOKUP(table, (codes >> 16) & 0xF), VLLM_OPS_GGUF_LOOKUP(table, codes >> 24));
#endif
}

// The non-linear 4-bit formats (MXFP4, IQ4_NL, IQ4_XS): nibbles() of the 16 bytes at qs, each code
// replaced by its table value.
template <int kAlign, class Table>
VLLM_OPS_HOST_DEVICE void table_nibbles(const uint8_t* qs, int c, const Table& table, Chunk& out) {
  nibbles<kAlign>(qs, c, out);
  for (int j = 0; j < 4; ++j) out.w[j] = lookup4(table, out.w[j]);
}

struct MXFP4 {  // e: E8M0 @0, qs @1; element = 2^(e - 128) * kMxfp4Values[code]
  static constexpr TypeKind kKind = TypeKind::kQuant;
  static constexpr int kBlockElems = 32, kBlockBytes = 1 + 16, kAlign = 1;
  static constexpr bool kHasOffset = false;
  VLLM_OPS_HOST_DEVICE static void decode(const uint8_t* b, int c, Chunk& out) {
    table_nibbles<kAlign>(b + 1, c, kMxfp4Values, out);
    out.scale = e8m0_half(b[0]);
    out.offset = 0.f;
  }
};

}  // namespace vllm_ops::gguf::types
