// The fused GPTQ kernels: each packed weight is read once from memory, dequantized in registers
// and multiplied by up to 64 rows of a.
//
//   fused_mma kernels (CUDA; 4 and 8 bits with one group per pack, i.e. the prepared path or a
//   plain checkpoint without g_idx): the dequantized weights go straight into tensor-core
//   fragments (mma.sync m16n8k16, fp32 accumulation). A lane owns 4 columns and one 16-byte word
//   row (two for 8 bits) per pack, so a warp's weight load is 32 columns x 4 word rows of whole
//   128-byte lines, copied into a per-warp ring in shared memory three stages ahead
//   (WeightRing, LaneTiles). Within each 16-wide k step the k order is permuted to the order the
//   bit tricks yield the values in, and a's fragments are loaded in the same order (a dot product
//   does not care which k comes first). Warps split K; partial sums are added in shared memory
//   in a fixed order, so results are deterministic. Up to 8 rows: fused_mma_few_rows_kernel
//   (the weights as the m16 operand, a as the n8 one); 9-64 rows: fused_mma_kernel (a as m16).
//
//   fused_generic_kernel (every bit width and g_idx; the only fused kernel on ROCm): CUDA cores,
//   fp32, a thread per 4 columns and a stride of packs.
//
// Weights are rounded once to a's dtype before the multiply (as the dense path's dequantized
// matrix is) on every path but the few-rows kernel's, which multiplies a by the exact q - zero
// and scales each group's fp32 sums (one rounding fewer); otherwise the paths differ only in the
// order of fp32 additions.

#include <torch/csrc/stable/accelerator.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <type_traits>

#include "gptq_gpu.h"

#include "../../../gpu_mma.h"

namespace vllm_ops {
namespace {

// ---------------------------------------------------------------------------------------------
// Generic fused kernel

constexpr int kGenericColThreads = 8;  // x 4 columns: 32 columns per block
constexpr int kGenericKThreads = 32;
constexpr int kGenericThreads = kGenericColThreads * kGenericKThreads;
constexpr int kGenericTile = 4;  // rows of a per block; grid.y covers more (8 spilled registers)
static_assert(kGenericTile * kGenericColThreads * 4 <= kGenericThreads, "one output per thread in the reduction");

template <class PB, typename T>
__global__ void __launch_bounds__(kGenericThreads)
fused_generic_kernel(const T* __restrict__ a, int64_t m, gptq::WeightView v, T* __restrict__ out) {
  __shared__ float partial[kGenericKThreads][kGenericTile][kGenericColThreads * 4];
  const int tx = threadIdx.x % kGenericColThreads, ty = threadIdx.x / kGenericColThreads;
  const int64_t col0 = int64_t{blockIdx.x} * kGenericColThreads * 4, col = col0 + tx * 4;
  const int64_t m0 = int64_t{blockIdx.y} * kGenericTile;
  const int rows = static_cast<int>(m - m0 < kGenericTile ? m - m0 : kGenericTile);
  float acc[kGenericTile][4] = {};
  if (col < v.n) {
    for (int64_t pack = ty; pack < v.k / gptq::kPackValues; pack += kGenericKThreads) {
      uint32_t words[4][PB::kWords];
      gptq::load_quad_pack<PB>(v, pack, col, words);
      gptq::QuadGroup<PB, T> grp;
      if (!v.row_group) grp.load(v, pack * gptq::kPackValues / v.group_size, col);
#pragma unroll  // fully: constant indices keep words[] in registers
      for (int i = 0; i < gptq::kPackValues; ++i) {
        const int64_t row = pack * gptq::kPackValues + i;
        if (v.row_group) grp.load(v, v.group_of(row), col);
        const int64_t src = v.source_of(row);
        float w[4];
#pragma unroll
        for (int c = 0; c < 4; ++c)
          w[c] = static_cast<float>(static_cast<T>(gptq::dequant(PB::get(words[c], i), grp.zero[c], grp.scale[c])));
#pragma unroll
        for (int r = 0; r < kGenericTile; ++r) {
          if (r < rows) {
            const float x = static_cast<float>(a[(m0 + r) * v.k + src]);
#pragma unroll
            for (int c = 0; c < 4; ++c) acc[r][c] += x * w[c];
          }
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kGenericTile; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) partial[ty][r][tx * 4 + c] = acc[r][c];
  __syncthreads();
  const int r = threadIdx.x / (kGenericColThreads * 4), c = threadIdx.x % (kGenericColThreads * 4);
  if (r >= rows || col0 + c >= v.n) return;  // rows <= kGenericTile
  float sum = 0.f;
  for (int y = 0; y < kGenericKThreads; ++y) sum += partial[y][r][c];
  out[(m0 + r) * v.n + col0 + c] = static_cast<T>(sum);
}

template <class PB, typename T>
void launch_generic(const T* a, int64_t m, const gptq::WeightView& v, T* out, gpuStream_t stream) {
  const dim3 grid(static_cast<unsigned>((v.n + kGenericColThreads * 4 - 1) / (kGenericColThreads * 4)),
                  static_cast<unsigned>((m + kGenericTile - 1) / kGenericTile));
  fused_generic_kernel<PB, T><<<grid, kGenericThreads, 0, stream>>>(a, m, v, out);
}

// ---------------------------------------------------------------------------------------------
// Tensor-core fused kernel (CUDA)

constexpr int kMmaWarps = 8;
constexpr int kMmaColumns = 32;  // per block: 4 n8 tiles, 4 columns per lane group
constexpr int kMmaMaxTiles = 4;  // m16 tiles: up to 64 rows of a
// Packs a warp computes per step (fused_mma_kernel): four 16-byte words per lane.
constexpr int stage_packs(int bits) { return 16 / bits; }

bool uses_mma(const gptq::WeightView& v, int device) {
#ifdef USE_ROCM
  return false;
#else
  if (compute_capability_major(device) < 8) return false;  // cp.async and these mma shapes: sm_80+
  // 32-bit offsets in the kernel: qweight and a below 2^31 elements (a: at most 64 rows).
  // Groups of a power of two packs (then shorter than a stage or whole stages; LaneTiles) or one
  // group for all of K; other lengths (say 96 rows) go to the generic kernel.
  if (!(v.bits == 4 || v.bits == 8) || v.row_group != nullptr || v.k * v.bits / 32 * v.n >= (int64_t{1} << 31) ||
      64 * v.k >= (int64_t{1} << 31))
    return false;
  const int64_t group_packs = v.group_size / gptq::kPackValues;
  return v.groups == 1 || (group_packs & (group_packs - 1)) == 0;
#endif
}

#ifndef USE_ROCM

// What differs between fp16 and bf16 in the GPTQ decode: the magic number (magic | q reads as
// magic + q for small codes q) and the paired arithmetic; the conversions and the mma instruction
// come from TensorCore (gpu_mma.h).
template <typename T>
struct MmaType;

template <>
struct MmaType<torch::headeronly::Half> : TensorCore<torch::headeronly::Half> {
  static constexpr uint32_t kMagic = 0x64006400u;  // 1024.0 in both halves; 1024 + q exact up to q = 1023
  static constexpr float kMagicValue = 1024.f;
  static constexpr bool kMagicHolds8Bits = true;
  // fp16's 10 mantissa bits also hold a nibble at bits 4-7: magic | (q << 4) reads as 1024 + 16q.
  static constexpr bool kHighNibbleInMantissa = true;
  __device__ static uint32_t sub_mul(uint32_t x, uint32_t z, uint32_t s) {
    return bits_as<uint32_t>(__hmul2(__hsub2(bits_as<__half2>(x), bits_as<__half2>(z)), bits_as<__half2>(s)));
  }
  // (x / 16 - z16) * s: x / 16 = 64 + q exactly, and the fma rounds the exact q - zero once.
  __device__ static uint32_t fma_mul(uint32_t x, uint32_t inv16, uint32_t z16, uint32_t s) {
    return bits_as<uint32_t>(
        __hmul2(__hfma2(bits_as<__half2>(x), bits_as<__half2>(inv16), bits_as<__half2>(z16)), bits_as<__half2>(s)));
  }
  // The same without the scale: q - zero, exact.
  __device__ static uint32_t sub(uint32_t x, uint32_t z) {
    return bits_as<uint32_t>(__hsub2(bits_as<__half2>(x), bits_as<__half2>(z)));
  }
  __device__ static uint32_t fma(uint32_t x, uint32_t inv16, uint32_t z16) {
    return bits_as<uint32_t>(__hfma2(bits_as<__half2>(x), bits_as<__half2>(inv16), bits_as<__half2>(z16)));
  }
};

template <>
struct MmaType<torch::headeronly::BFloat16> : TensorCore<torch::headeronly::BFloat16> {
  static constexpr uint32_t kMagic = 0x43004300u;  // 128.0 in both halves; 128 + q exact up to q = 127
  static constexpr float kMagicValue = 128.f;
  static constexpr bool kMagicHolds8Bits = false;
  static constexpr bool kHighNibbleInMantissa = false;  // bit 7 of a bf16 is exponent
  __device__ static uint32_t sub_mul(uint32_t x, uint32_t z, uint32_t s) {
    return bits_as<uint32_t>(
        __hmul2(__hsub2(bits_as<__nv_bfloat162>(x), bits_as<__nv_bfloat162>(z)), bits_as<__nv_bfloat162>(s)));
  }
  __device__ static uint32_t sub(uint32_t x, uint32_t z) {  // q - zero, exact (|q - zero| < 256)
    return bits_as<uint32_t>(__hsub2(bits_as<__nv_bfloat162>(x), bits_as<__nv_bfloat162>(z)));
  }
};

// A column group's zero and scale, for four columns, in the form weight_regs uses them, made from
// the group's raw scales (4 columns, one 8-byte word) and the qzeros word holding their zeros.
template <int kBits, typename T>
struct MmaGroup {
  using MT = MmaType<T>;
  static constexpr bool kMagicPath = kBits == 4 || MT::kMagicHolds8Bits;
  static constexpr bool kHighNibbles = kBits == 4 && MT::kHighNibbleInMantissa;
  uint32_t z2[4], s2[4];      // magic path: magic + zero, and the scale, in both halves
  uint32_t z16[4];            // high nibbles: -(magic / 16 + zero), in both halves
  float offset[4];            // fp32 path: 2^23 + zero
  float scale[4];             // the columns' scales in fp32

  // zero_word >> zero_shift holds the four columns' stored zeros, kBits each, lowest first.
  __device__ __forceinline__ void set(const gptq::Quad<T>& scales, uint32_t zero_word, int zero_shift, bool v2_zeros) {
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const float zero = static_cast<float>(
          gptq::zero_point((zero_word >> (zero_shift + c * kBits)) & gptq::PackedBits<kBits>::kMask, v2_zeros));
      const float s = static_cast<float>(scales.v[c]);
      scale[c] = s;
      if constexpr (kMagicPath) {
        z2[c] = MT::splat(MT::kMagicValue + zero);
        s2[c] = MT::splat(s);
        if constexpr (kHighNibbles) z16[c] = MT::splat(-(MT::kMagicValue / 16 + zero));
      } else {
        offset[c] = 8388608.f + zero;
      }
    }
  }
};

// (x & mask) | bits in one instruction (the compiler emits an AND and an OR for the C form).
__device__ __forceinline__ uint32_t and_or(uint32_t x, uint32_t mask, uint32_t bits) {
  uint32_t d;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;\n" : "=r"(d) : "r"(x), "r"(mask), "r"(bits));
  return d;
}

// The four registers (two k16 steps) of column j from the lane's word(s) of a pack. The
// lane's 8 values are k = 8t .. 8t + 7 of the pack (t = lane % 4). Register r pairs
//   4 bits: values (r, r + 4)      (nibble r and r + 4: one mask takes both halves)
//   8 bits: values (0,2) (1,3) (4,6) (5,7)   (bytes 0 and 2, 1 and 3 of each word)
// Each weight is (q - zero) exactly, times the scale, rounded once to T; kScaled = false leaves
// out the scale (q - zero, exact in T: |q - zero| < 256), for a kernel that scales its fp32 sums
// per group instead. fp16 4-bit takes the odd nibbles where they lie (magic + 16q, scaled by an
// fma), so one shift serves a word.
template <int kBits, typename T, bool kScaled = true>
__device__ __forceinline__ void weight_regs(const uint32_t (&w)[kBits / 4], const MmaGroup<kBits, T>& grp, int j,
                                            uint32_t (&b)[4]) {
  using MT = MmaType<T>;
  using G = MmaGroup<kBits, T>;
  const auto sub = [&](uint32_t x) { return kScaled ? MT::sub_mul(x, grp.z2[j], grp.s2[j]) : MT::sub(x, grp.z2[j]); };
  if constexpr (G::kHighNibbles) {
    const uint32_t inv16 = 0x2C002C00u;  // 1/16 in both fp16 halves
    const auto fma = [&](uint32_t x) {
      return kScaled ? MT::fma_mul(x, inv16, grp.z16[j], grp.s2[j]) : MT::fma(x, inv16, grp.z16[j]);
    };
    const uint32_t hi = w[0] >> 8;
    b[0] = sub(and_or(w[0], 0x000F000Fu, MT::kMagic));
    b[1] = fma(and_or(w[0], 0x00F000F0u, MT::kMagic));
    b[2] = sub(and_or(hi, 0x000F000Fu, MT::kMagic));
    b[3] = fma(and_or(hi, 0x00F000F0u, MT::kMagic));
  } else if constexpr (G::kMagicPath) {
    if constexpr (kBits == 4) {
#pragma unroll
      for (int r = 0; r < 4; ++r) b[r] = sub(and_or(w[0] >> (4 * r), 0x000F000Fu, MT::kMagic));
    } else {
#pragma unroll
      for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int r = 0; r < 2; ++r) b[2 * h + r] = sub(and_or(w[h] >> (8 * r), 0x00FF00FFu, MT::kMagic));
    }
  } else {
    // bf16 and 8-bit codes: 7 mantissa bits cannot hold 128 + q, so through fp32, where
    // (2^23 + q) - (2^23 + zero) is exact.
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float d[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        d[e] = __uint_as_float(0x4B000000u | ((w[h] >> (8 * e)) & 0xFFu)) - grp.offset[j];
        if constexpr (kScaled) d[e] *= grp.scale[j];
      }
      b[2 * h] = MT::pair(d[0], d[2]);
      b[2 * h + 1] = MT::pair(d[1], d[3]);
    }
  }
}

// a's values x0..x7 (k = 8t .. 8t + 7, two per word) paired as weight_regs pairs the weights.
template <int kBits>
__device__ __forceinline__ void activation_regs(const uint32_t (&x)[4], uint32_t (&r)[4]) {
  constexpr int kHi = kBits == 4 ? 2 : 1;  // the word holding the partner of x[2j]'s values
  constexpr int kNext = kBits == 4 ? 1 : 2;
  r[0] = __byte_perm(x[0], x[kHi], 0x5410);  // (x0, x4) | (x0, x2)
  r[1] = __byte_perm(x[0], x[kHi], 0x7632);  // (x1, x5) | (x1, x3)
  r[2] = __byte_perm(x[kNext], x[kNext + kHi], 0x5410);
  r[3] = __byte_perm(x[kNext], x[kNext + kHi], 0x7632);
}

// One warp's ring of weight stages in shared memory. A stage is the packs a warp computes in one
// step: four 16-byte words per lane (one pack at 8 bits is two words), with the raw scales and
// zero word of the stage's group (of each pack's group where groups are shorter than a stage).
// Each lane copies and reads only its own slots, so the ring needs no barrier; the copies of
// kRingStages - 1 stages are in flight while one is computed. (The earlier design held two
// stages in registers and loaded each group's scales when first used: those loads and a's waited
// a DRAM round trip every step, 0.35-0.53 of the roofline at M <= 16.)
constexpr int kRingStages = 4;

template <int kBits, bool kGroupPerPack>
struct WeightRing {
  static constexpr int kLaneWords = kBits / 4;  // 16-byte words per lane per pack
  static constexpr int kPacks = stage_packs(kBits);
  static constexpr int kGroups = kGroupPerPack ? kPacks : 1;
  uint4 w[kRingStages][kPacks][kLaneWords][32];
  uint2 scales[kRingStages][kGroups][32];  // Quad<T>: 4 columns x 16 bits
  uint32_t zeros[kRingStages][kGroups][32];
};

// What one lane of a fused_mma kernel reads: its columns (col .. col + 3, lane group g), its
// word rows of each pack (t), the warp's stages (warp w takes packs w * kPacks + s * stride ..),
// and the copies that fill its ring slots. Offsets within a tensor are 32-bit (the host sends
// tensors of 2^31 elements or more elsewhere); the per-stage addresses are one multiply-add on a
// lane pointer. Groups: group_shift = log2(packs per group), or 31 for one group over all of K
// (the host sends other lengths to the generic kernel); kGroupPerPack: groups of 1 or 2 packs,
// shorter than a stage. Weight words of packs past K are not copied: whatever the slot holds
// decodes to finite weights, which multiply a's zeros there. Scales and zeros past K (and of
// columns past N) are copied as zeros, so no stale bits can make a NaN.
template <int kBits, typename T, bool kGroupPerPack>
struct LaneTiles {
  using Ring = WeightRing<kBits, kGroupPerPack>;
  static constexpr int kLaneWords = Ring::kLaneWords, kPacks = Ring::kPacks;
  static constexpr int kStride = kMmaWarps * kPacks;  // packs between a warp's stages

  Ring& ring;
  const uint32_t* w_lane;  // the lane's word of its first pack
  const T* scale_lane;     // the lane's scales in group 0
  const uint32_t* zero_lane;
  int warp, lane, g, t, n, k, n0, packs, first, stages;
  int w_step, group_shift, scale_stride, zero_stride, zero_shift;
  bool col_ok, v2_zeros;

  __device__ LaneTiles(const gptq::WeightView& v, uint4* smem) : ring(reinterpret_cast<Ring*>(smem)[threadIdx.x / 32]) {
    warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    n = static_cast<int>(v.n), k = static_cast<int>(v.k);
    n0 = blockIdx.x * kMmaColumns;
    const int col = n0 + 4 * g;
    col_ok = col < n;
    const int safe_col = col_ok ? col : 0;
    packs = k / gptq::kPackValues, first = warp * kPacks;
    stages = first < packs ? (packs - first + kStride - 1) / kStride : 0;
    w_lane = v.qweight + (first * kBits + t * kLaneWords) * n + safe_col;
    w_step = kStride * kBits * n;
    const int64_t group_packs = v.group_size / gptq::kPackValues;
    group_shift = v.groups == 1 ? 31 : __ffsll(group_packs) - 1;
    scale_lane = static_cast<const T*>(v.scales) + safe_col, scale_stride = n;
    zero_lane = v.qzeros + safe_col * kBits / 32, zero_stride = n * kBits / 32;
    zero_shift = col * kBits % 32;
    v2_zeros = v.v2_zeros;
  }

  __device__ int stage_base(int s) const { return first + s * kStride; }

  // Copies stage s into ring slot `slot` (s % kRingStages); every lane commits one group per
  // stage, empty or not, so wait_async counts stages.
  __device__ void issue(int s, int slot) {
    const int base = stage_base(s);
    const uint32_t* wp = w_lane + s * w_step;
#pragma unroll
    for (int u = 0; u < kPacks; ++u) {
      if (col_ok && base + u < packs) {
#pragma unroll
        for (int h = 0; h < kLaneWords; ++h) copy_async<16>(&ring.w[slot][u][h][lane], wp + (u * kBits + h) * n, true);
      }
    }
#pragma unroll
    for (int e = 0; e < Ring::kGroups; ++e) {
      const bool ok = col_ok && base + e < packs;
      const int group = ok ? (base + e) >> group_shift : 0;
      copy_async<8>(&ring.scales[slot][e][lane], scale_lane + group * scale_stride, ok);
      copy_async<4>(&ring.zeros[slot][e][lane], zero_lane + group * zero_stride, ok);
    }
    commit_async();
  }

  // Pack u of the stage in `slot`: its group (where one starts) and its words.
  __device__ void read_group(int slot, int u, MmaGroup<kBits, T>& grp) const {
    if (kGroupPerPack || u == 0) {
      const int e = kGroupPerPack ? u : 0;
      grp.set(bits_as<gptq::Quad<T>>(ring.scales[slot][e][lane]), ring.zeros[slot][e][lane], zero_shift, v2_zeros);
    }
  }
  __device__ void read_words(int slot, int u, uint4 (&words)[kLaneWords]) const {
#pragma unroll
    for (int h = 0; h < kLaneWords; ++h) words[h] = ring.w[slot][u][h][lane];
  }
  // Column j's word(s) of a pack.
  __device__ static void column(const uint4 (&words)[kLaneWords], int j, uint32_t (&w)[kLaneWords]) {
#pragma unroll
    for (int h = 0; h < kLaneWords; ++h) w[h] = j == 0 ? words[h].x : j == 1 ? words[h].y : j == 2 ? words[h].z : words[h].w;
  }

  // a's values k = 32 * pack + 8t .. + 7 of `row`, zero beyond the last row and past K.
  __device__ void load_a(const T* a, int m, int pack, int row, uint32_t (&x)[4]) const {
    x[0] = x[1] = x[2] = x[3] = 0u;
    if (row < m && pack < packs) {
      const uint4 xv = __ldg(reinterpret_cast<const uint4*>(a + row * k + pack * gptq::kPackValues + 8 * t));
      x[0] = xv.x, x[1] = xv.y, x[2] = xv.z, x[3] = xv.w;
    }
  }
};

// Up to 8 rows of a, with a and W swapped in the tensor-core product (out^T = W^T a^T): the
// weights are the m16 operand (16 columns: the lane's columns 4g + 2i and 4g + 2i + 1 are rows g
// and g + 8 of tile i) and a is the n8 operand (its 8 rows), so no fragment row is padding.
// (With a as the m16 operand, half of each mma and of the accumulators were zero rows, and
// moving the zeros into place cost as many instructions as the mma: 8192 x 8192 4-bit at M = 1
// took 29.5 us there, 22.2 us here.) a's values for a stage are loaded one stage ahead. The lane
// ends with outputs for its 4 columns and rows 2t, 2t + 1. (Two n8 tiles of a, for 16 rows,
// measured slower than fused_mma_kernel's one m16 tile: 12.9 against 10.8 us at 4096 x 4096.)
template <int kBits, typename T, bool kGroupPerPack>
__global__ void __launch_bounds__(kMmaWarps * 32, 2)
fused_mma_few_rows_kernel(const T* __restrict__ a, int m, gptq::WeightView v, T* __restrict__ out) {
  using MT = MmaType<T>;
  using Lane = LaneTiles<kBits, T, kGroupPerPack>;
  constexpr int kPacks = Lane::kPacks, kLaneWords = Lane::kLaneWords;
  extern __shared__ uint4 smem[];  // the warps' rings, then (after the loop) the partial sums
  Lane L(v, smem);

  float acc[2][4] = {};  // tile i: columns 4g + 2i (e < 2) and + 1 (e >= 2); rows 2t + e % 2
  // The mma multiplies a by the exact q - zero and sums in fp32; each group's sums are then
  // scaled once, in fp32 (no rounding of the weights, 16 fewer multiplies per pack and lane).
  float group_acc[2][4] = {};
  auto add_group = [&](const MmaGroup<kBits, T>& grp) {
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        acc[i][e] = fmaf(grp.scale[2 * i + e / 2], group_acc[i][e], acc[i][e]);
        group_acc[i][e] = 0.f;
      }
  };
#pragma unroll
  for (int s = 0; s < kRingStages - 1; ++s) L.issue(s, s);
  wait_for_prerequisite_grid();  // a may come from the gather kernel just before this one

  using StageA = uint32_t[kPacks][4];
  auto load_stage_a = [&](int s, StageA& x) {
#pragma unroll
    for (int u = 0; u < kPacks; ++u) L.load_a(a, m, L.stage_base(s) + u, L.g, x[u]);
  };
  MmaGroup<kBits, T> grp{};
  // Stage s from ring slot `slot`, with a's values for it in `cur`; loads a for stage s + 1
  // into `next`.
  auto step = [&](int s, int slot, StageA& cur, StageA& next) {
    wait_async<kRingStages - 2>();  // stage s has landed
    L.issue(s + kRingStages - 1, (slot + kRingStages - 1) % kRingStages);  // the slot of stage s - 1, used
    load_stage_a(s + 1, next);
#pragma unroll
    for (int u = 0; u < kPacks; ++u) {
      L.read_group(slot, u, grp);
      uint32_t breg[4];
      activation_regs<kBits>(cur[u], breg);
      uint4 words[kLaneWords];
      L.read_words(slot, u, words);
      uint32_t wr[4][4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        uint32_t w[kLaneWords];
        Lane::column(words, j, w);
        weight_regs<kBits, T, false>(w, grp, j, wr[j]);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const uint32_t lo[4] = {wr[2 * i][0], wr[2 * i + 1][0], wr[2 * i][1], wr[2 * i + 1][1]};
        const uint32_t hi[4] = {wr[2 * i][2], wr[2 * i + 1][2], wr[2 * i][3], wr[2 * i + 1][3]};
        MT::mma(group_acc[i], lo, breg[0], breg[1]);
        MT::mma(group_acc[i], hi, breg[2], breg[3]);
      }
      if (kGroupPerPack) add_group(grp);  // the next pack may start a group
    }
    if (!kGroupPerPack) add_group(grp);  // a stage lies in one group
  };
  // The loop unrolled over one turn of the ring, so slots are constants; a's registers alternate.
  StageA xa, xb;
  load_stage_a(0, xa);
  static_assert(kRingStages % 2 == 0, "a's two register sets alternate within a turn of the ring");
  for (int s0 = 0; s0 < L.stages; s0 += kRingStages) {
#pragma unroll
    for (int r = 0; r < kRingStages; r += 2) {
      if (s0 + r < L.stages) step(s0 + r, r, xa, xb);
      if (s0 + r + 1 < L.stages) step(s0 + r + 1, r + 1, xb, xa);
    }
  }
  wait_async<0>();  // the empty tail groups too, before the rings' memory is reused
  __syncthreads();

  // The warps' partial sums, added in warp order: 8 rows x 32 columns, one per thread.
  static_assert(8 * kMmaColumns == kMmaWarps * 32, "one output per thread");
  auto& partial = *reinterpret_cast<float (*)[kMmaWarps][8][kMmaColumns]>(smem);
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) partial[L.warp][2 * L.t + e % 2][4 * L.g + 2 * i + e / 2] = acc[i][e];
  __syncthreads();
  const int row = threadIdx.x / kMmaColumns, c = threadIdx.x % kMmaColumns;
  float sum = 0.f;
#pragma unroll
  for (int w = 0; w < kMmaWarps; ++w) sum += partial[w][row][c];
  if (row < m && L.n0 + c < L.n) out[row * L.n + L.n0 + c] = static_cast<T>(sum);
}

// kTiles (1-4) m16 tiles of rows of a (9-64 rows), a as the m16 operand; a's fragments are
// loaded (from L2) per pack.
template <int kBits, typename T, int kTiles, bool kGroupPerPack>
__global__ void __launch_bounds__(kMmaWarps * 32, kTiles <= 1 ? 2 : 1)
fused_mma_kernel(const T* __restrict__ a, int m, gptq::WeightView v, T* __restrict__ out) {
  using MT = MmaType<T>;
  using Lane = LaneTiles<kBits, T, kGroupPerPack>;
  constexpr int kPacks = Lane::kPacks, kLaneWords = Lane::kLaneWords;
  extern __shared__ uint4 smem[];  // the warps' rings, then (after the loop) the partial sums
  Lane L(v, smem);

  float acc[kTiles][4][4];
#pragma unroll
  for (int mt = 0; mt < kTiles; ++mt)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][j][e] = 0.f;

#pragma unroll
  for (int s = 0; s < kRingStages - 1; ++s) L.issue(s, s);
  wait_for_prerequisite_grid();  // a may come from the gather kernel just before this one

  MmaGroup<kBits, T> grp{};
  for (int s = 0; s < L.stages; ++s) {
    wait_async<kRingStages - 2>();  // stage s has landed
    const int slot = s % kRingStages, base = L.stage_base(s);
    L.issue(s + kRingStages - 1, (s + kRingStages - 1) % kRingStages);  // the slot of stage s - 1, used
#pragma unroll
    for (int u = 0; u < kPacks; ++u) {
      L.read_group(slot, u, grp);
      uint32_t areg[kTiles][2][4];
#pragma unroll
      for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          uint32_t x[4];
          L.load_a(a, m, base + u, mt * 16 + L.g + 8 * h, x);
          activation_regs<kBits>(x, areg[mt][h]);
        }
      }
      uint4 words[kLaneWords];
      L.read_words(slot, u, words);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        uint32_t w[kLaneWords];
        Lane::column(words, j, w);
        uint32_t b[4];
        weight_regs<kBits, T>(w, grp, j, b);
#pragma unroll
        for (int mt = 0; mt < kTiles; ++mt) {
          const uint32_t lo[4] = {areg[mt][0][0], areg[mt][1][0], areg[mt][0][1], areg[mt][1][1]};
          const uint32_t hi[4] = {areg[mt][0][2], areg[mt][1][2], areg[mt][0][3], areg[mt][1][3]};
          MT::mma(acc[mt][j], lo, b[0], b[1]);
          MT::mma(acc[mt][j], hi, b[2], b[3]);
        }
      }
    }
  }
  wait_async<0>();  // the empty tail groups too, before the rings' memory is reused
  __syncthreads();

  // The warps' partial sums, added in warp order one m16 tile at a time. Fragment element e of
  // tile j is row g (+8 for e >= 2), tile column 2t (+1 for odd e), i.e. block column 4 * that + j.
  auto& partial = *reinterpret_cast<float (*)[kMmaWarps][16][kMmaColumns]>(smem);
#pragma unroll
  for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) partial[L.warp][L.g + 8 * (e / 2)][4 * (2 * L.t + e % 2) + j] = acc[mt][j][e];
    __syncthreads();
    for (int i = threadIdx.x; i < 16 * kMmaColumns; i += kMmaWarps * 32) {
      const int row = i / kMmaColumns, c = i % kMmaColumns;
      float sum = 0.f;
#pragma unroll
      for (int w = 0; w < kMmaWarps; ++w) sum += partial[w][row][c];
      const int orow = mt * 16 + row;
      if (orow < m && L.n0 + c < L.n) out[orow * L.n + L.n0 + c] = static_cast<T>(sum);
    }
    __syncthreads();
  }
}

// a's columns in the order of the prepared weights' rows (act-order): a[:, perm]. The GEMM after
// it may start at once (it copies its first weight stages, then waits for this grid).
template <typename T>
__global__ void gather_columns_kernel(const T* __restrict__ a, const int32_t* __restrict__ perm, T* __restrict__ out,
                                      int64_t m, int64_t k) {
  allow_dependent_launch();
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < m * k; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = a[i / k * k + gptq::WeightView::clamp(perm[i % k], k)];
}

// Launches one fused_mma kernel over the column blocks; kPartialRows: the rows of its per-warp
// partial sums. Shared memory: the warps' rings, which the partial sums reuse.
template <auto kKernel, int kBits, bool kGroupPerPack, int kPartialRows, typename T>
void launch_mma(const T* a, int m, const gptq::WeightView& v, T* out, bool after_gather, int device,
                gpuStream_t stream) {
  constexpr size_t ring_bytes = kMmaWarps * sizeof(WeightRing<kBits, kGroupPerPack>);
  constexpr size_t partial_bytes = sizeof(float) * kMmaWarps * kPartialRows * kMmaColumns;
  constexpr size_t smem = ring_bytes > partial_bytes ? ring_bytes : partial_bytes;
  static bool configured = false;  // racing first calls set the same attributes
  if (!configured) {
    VLLM_OPS_GPU_CHECK(cudaFuncSetAttribute(kKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    // All of L1 as shared memory, so two blocks' rings fit on an SM.
    VLLM_OPS_GPU_CHECK(cudaFuncSetAttribute(kKernel, cudaFuncAttributePreferredSharedMemoryCarveout, 100));
    configured = true;
  }
  const auto blocks = static_cast<unsigned>((v.n + kMmaColumns - 1) / kMmaColumns);
  launch_kernel<kKernel>(dim3(blocks), dim3(kMmaWarps * 32), smem, stream,
                         after_gather && dependent_launch_allowed<kKernel>(device), a, m, v, out);
}

template <int kBits, typename T, bool kGroupPerPack>
void launch_mma_tiles(const T* a, int m, const gptq::WeightView& v, T* out, bool after_gather, int device,
                      gpuStream_t stream) {
  const auto tiles = [&](auto m_tiles) {
    constexpr int kTiles = decltype(m_tiles)::value;
    launch_mma<fused_mma_kernel<kBits, T, kTiles, kGroupPerPack>, kBits, kGroupPerPack, 16>(a, m, v, out, after_gather,
                                                                                          device, stream);
  };
  if (m <= 8)
    return launch_mma<fused_mma_few_rows_kernel<kBits, T, kGroupPerPack>, kBits, kGroupPerPack, 8>(a, m, v, out, after_gather,
                                                                                                 device, stream);
  switch ((m + 15) / 16) {
    case 1: tiles(std::integral_constant<int, 1>{}); break;
    case 2: tiles(std::integral_constant<int, 2>{}); break;
    case 3: tiles(std::integral_constant<int, 3>{}); break;
    default: tiles(std::integral_constant<int, kMmaMaxTiles>{}); break;
  }
}

template <int kBits, typename T>
void launch_mma_groups(const T* a, int m, const gptq::WeightView& v, T* out, bool after_gather, int device,
                       gpuStream_t stream) {
  if (v.group_size / gptq::kPackValues < stage_packs(kBits)) {
    launch_mma_tiles<kBits, T, true>(a, m, v, out, after_gather, device, stream);
  } else {
    launch_mma_tiles<kBits, T, false>(a, m, v, out, after_gather, device, stream);
  }
}

#endif  // USE_ROCM

}  // namespace

// Rows of a from which dequantizing W once and a dense GEMM beat the fused kernels. Measured on
// the H200 (benchmarks/NOTES.md, 8192 x 8192, group 128): the tensor-core kernel at 64 rows took
// 70-76 us (4 bits) and 90-104 us (8 bits), the dense path at 65 rows 85-86 and 95-96 us, so the
// fused kernel serves up to its 64-row limit. The CUDA-core kernel (2 and 3 bits, 4096 x 4096)
// took 21-24 us for one 4-row tile and 33-34 us for two, the dense path 23-24 us: one tile.
int64_t GptqLauncher<GpuBackend>::dequant_gemm_min_rows(const gptq::WeightView& v) {
  return uses_mma(v, v.device) ? kMmaMaxTiles * 16 + 1 : kGenericTile + 1;
}

void GptqLauncher<GpuBackend>::fused_gemm(const Tensor& a, const gptq::WeightView& v, Tensor& out) {
  const int device = a.get_device_index();
  torch::stable::accelerator::DeviceGuard guard(device);
  const gpuStream_t stream = current_gpu_stream(device);
  const int64_t m = a.size(0);
  dispatch_half_types(a.scalar_type(), [&](auto dtype_tag) {
    using T = decltype(dtype_tag);
    const T* ap = static_cast<const T*>(a.const_data_ptr());
    T* op = static_cast<T*>(out.mutable_data_ptr());
#ifndef USE_ROCM
    if (uses_mma(v, device)) {
      // Act-order: a's columns gathered once into the weights' row order (M x K, small), so the
      // kernel's a loads stay 16-byte vectors; the GEMM starts during the gather and waits for
      // it after its first weight copies. (Reading a through perm in the 8-row kernel instead,
      // eight dependent 2-byte loads per lane and pack, cost 1.6-2.5x at M = 1-4.) Freeing
      // `permuted` after the launches is safe: the allocator reuses memory in stream order.
      gptq::WeightView view = v;
      std::optional<Tensor> permuted;
      if (v.perm) {
        permuted = torch::stable::new_empty(a, {m, v.k});
        const int64_t total = m * v.k, threads = 256;
        const auto blocks = static_cast<unsigned>(std::min<int64_t>((total + threads - 1) / threads, 4096));
        gather_columns_kernel<T><<<blocks, threads, 0, stream>>>(ap, v.perm, static_cast<T*>(permuted->mutable_data_ptr()), m, v.k);
        ap = static_cast<const T*>(permuted->const_data_ptr());
        view.perm = nullptr;
      }
      if (v.bits == 4) {
        launch_mma_groups<4, T>(ap, static_cast<int>(m), view, op, permuted.has_value(), device, stream);
      } else {
        launch_mma_groups<8, T>(ap, static_cast<int>(m), view, op, permuted.has_value(), device, stream);
      }
      return;
    }
#endif
    gptq::dispatch_bits(v.bits, [&](auto bits_tag) { launch_generic<decltype(bits_tag), T>(ap, m, v, op, stream); });
  });
  VLLM_OPS_GPU_CHECK(gpuGetLastError());
}

template struct GptqOps<GpuBackend>;

}  // namespace vllm_ops
