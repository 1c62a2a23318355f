// The fused GPTQ kernels: each packed weight is read once from memory, dequantized in registers
// and multiplied by up to 64 rows of a. Two kernels:
//
//   fused_mma_kernel (CUDA; 4 and 8 bits with one group per pack, i.e. the prepared path or a
//   plain checkpoint without g_idx): the dequantized weights go straight into tensor-core
//   fragments (mma.sync m16n8k16, fp32 accumulation). A lane owns 4 columns, one per n8 tile,
//   and one 16-byte word row (two for 8 bits) per pack, so a warp's weight load is 32 columns x
//   4 word rows of whole 128-byte lines. Within each 16-wide k step the k order is permuted to
//   the order the bit tricks yield the values in, and a's fragments are loaded in the same order
//   (a dot product does not care which k comes first). Warps split K; partial sums are added in
//   shared memory in a fixed order, so results are deterministic.
//
//   fused_generic_kernel (every bit width and g_idx; the only fused kernel on ROCm): CUDA cores,
//   fp32, a thread per 4 columns and a stride of packs.
//
// Weights are rounded once to a's dtype before the multiply on every path (as the dense path's
// dequantized matrix is), so the paths differ only in the order of fp32 additions.

#include <torch/csrc/stable/accelerator.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "gptq_gpu.h"

#ifndef USE_ROCM
  #include <cuda_bf16.h>
  #include <cuda_fp16.h>
#endif

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

bool uses_mma(const gptq::WeightView& v) {
#ifdef USE_ROCM
  return false;
#else
  // 32-bit offsets in the kernel: qweight and a below 2^31 elements (a: at most 64 rows).
  return (v.bits == 4 || v.bits == 8) && v.row_group == nullptr && v.k * v.bits / 32 * v.n < (int64_t{1} << 31) &&
         64 * v.k < (int64_t{1} << 31);
#endif
}

#ifndef USE_ROCM

template <typename To, typename From>
__device__ __forceinline__ To bits_as(const From& f) {
  static_assert(sizeof(To) == sizeof(From), "same size");
  To t;
  memcpy(&t, &f, sizeof(To));
  return t;
}

// What differs between fp16 and bf16: the magic number (magic | q reads as magic + q for small
// codes q), the paired arithmetic and the mma instruction.
template <typename T>
struct MmaType;

template <>
struct MmaType<torch::headeronly::Half> {
  static constexpr uint32_t kMagic = 0x64006400u;  // 1024.0 in both halves; 1024 + q exact up to q = 1023
  static constexpr float kMagicValue = 1024.f;
  static constexpr bool kMagicHolds8Bits = true;
  __device__ static uint32_t sub_mul(uint32_t x, uint32_t z, uint32_t s) {
    return bits_as<uint32_t>(__hmul2(__hsub2(bits_as<__half2>(x), bits_as<__half2>(z)), bits_as<__half2>(s)));
  }
  __device__ static uint32_t splat(float f) { return bits_as<uint32_t>(__float2half2_rn(f)); }
  __device__ static uint32_t pair(float lo, float hi) { return bits_as<uint32_t>(__floats2half2_rn(lo, hi)); }
  __device__ static void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

template <>
struct MmaType<torch::headeronly::BFloat16> {
  static constexpr uint32_t kMagic = 0x43004300u;  // 128.0 in both halves; 128 + q exact up to q = 127
  static constexpr float kMagicValue = 128.f;
  static constexpr bool kMagicHolds8Bits = false;
  __device__ static uint32_t sub_mul(uint32_t x, uint32_t z, uint32_t s) {
    return bits_as<uint32_t>(
        __hmul2(__hsub2(bits_as<__nv_bfloat162>(x), bits_as<__nv_bfloat162>(z)), bits_as<__nv_bfloat162>(s)));
  }
  __device__ static uint32_t splat(float f) { return bits_as<uint32_t>(__float2bfloat162_rn(f)); }
  __device__ static uint32_t pair(float lo, float hi) { return bits_as<uint32_t>(__floats2bfloat162_rn(lo, hi)); }
  __device__ static void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

// A column group's zero and scale, for four columns, in the form weight_regs uses them.
template <int kBits, typename T>
struct MmaGroup {
  using MT = MmaType<T>;
  static constexpr bool kMagicPath = kBits == 4 || MT::kMagicHolds8Bits;
  uint32_t z2[4], s2[4];      // magic path: magic + zero, and the scale, in both halves
  float offset[4], scale[4];  // fp32 path: 2^23 + zero, and the scale

  __device__ __forceinline__ void load(const gptq::WeightView& v, int64_t group, int64_t col) {
    gptq::QuadGroup<gptq::PackedBits<kBits>, T> q;
    q.load(v, group, col);
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      if constexpr (kMagicPath) {
        z2[c] = MT::splat(MT::kMagicValue + q.zero[c]);
        s2[c] = MT::splat(q.scale[c]);
      } else {
        offset[c] = 8388608.f + q.zero[c];
        scale[c] = q.scale[c];
      }
    }
  }
};

// The four B registers (two k16 steps) of column j from the lane's word(s) of a pack. The
// lane's 8 values are k = 8t .. 8t + 7 of the pack (t = lane % 4). Register r pairs
//   4 bits: values (r, r + 4)      (nibble r and r + 4: one mask takes both halves)
//   8 bits: values (0,2) (1,3) (4,6) (5,7)   (bytes 0 and 2, 1 and 3 of each word)
// Each weight is (q - zero) exactly, times the scale, rounded once to T.
template <int kBits, typename T>
__device__ __forceinline__ void weight_regs(const uint32_t (&w)[kBits / 4], const MmaGroup<kBits, T>& grp, int j,
                                            uint32_t (&b)[4]) {
  using MT = MmaType<T>;
  if constexpr (MmaGroup<kBits, T>::kMagicPath) {
    if constexpr (kBits == 4) {
#pragma unroll
      for (int r = 0; r < 4; ++r)
        b[r] = MT::sub_mul(((w[0] >> (4 * r)) & 0x000F000Fu) | MT::kMagic, grp.z2[j], grp.s2[j]);
    } else {
#pragma unroll
      for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int r = 0; r < 2; ++r)
          b[2 * h + r] = MT::sub_mul(((w[h] >> (8 * r)) & 0x00FF00FFu) | MT::kMagic, grp.z2[j], grp.s2[j]);
    }
  } else {
    // bf16 and 8-bit codes: 7 mantissa bits cannot hold 128 + q, so through fp32, where
    // (2^23 + q) - (2^23 + zero) is exact.
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float d[4];
#pragma unroll
      for (int e = 0; e < 4; ++e)
        d[e] = (__uint_as_float(0x4B000000u | ((w[h] >> (8 * e)) & 0xFFu)) - grp.offset[j]) * grp.scale[j];
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

// kTiles m16 tiles of rows of a; kTiles = 0 is the 8-row kernel: only rows g of the fragments
// hold rows of a (the other half is zero), and a's loads for a stage are issued with its weights.
template <int kBits, typename T, int kTiles>
__global__ void __launch_bounds__(kMmaWarps * 32, kTiles <= 1 ? 2 : 1)
fused_mma_kernel(const T* __restrict__ a, int m, gptq::WeightView v, T* __restrict__ out) {
  using MT = MmaType<T>;
  constexpr int kMTiles = kTiles == 0 ? 1 : kTiles;
  constexpr int kHalves = kTiles == 0 ? 1 : 2;  // 8-row halves of a tile that hold rows of a
  constexpr int kLaneWords = kBits / 4;  // 16-byte word rows per lane per pack
  // Packs per stage: four 16-byte loads per lane. The next stage's loads are issued before the
  // current stage is computed (two stages in flight), so memory latency overlaps the math.
  // (A six-stage cp.async ring in shared memory instead measured slower: 33 against 26 us.)
  // (__launch_bounds__ for three blocks per SM spilled and measured 36 against 26 us.)
  constexpr int kUnroll = 4 / kLaneWords;
  __shared__ float partial[kMmaWarps][16][kMmaColumns];

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  // 32-bit offsets (the host sends tensors of 2^31 elements or more elsewhere): 64-bit index
  // arithmetic was a third of this kernel's instructions.
  const int n = static_cast<int>(v.n), k = static_cast<int>(v.k);
  const int n0 = blockIdx.x * kMmaColumns, col = n0 + 4 * g;  // column of tile j: col + j
  const bool col_ok = col < n;
  const int packs = k / gptq::kPackValues, stride = kMmaWarps * kUnroll;
  const int packs_per_group = static_cast<int>(v.group_size / gptq::kPackValues);
  const uint32_t* w_lane = v.qweight + t * kLaneWords * n + col;
  const T* a_lane = a + 8 * t;

  // a's values k = 32 * pack + 8t .. + 7 of `row` (zero beyond the last row).
  auto load_a = [&](int pack, int row, uint32_t (&x)[4]) {
    x[0] = x[1] = x[2] = x[3] = 0u;
    if (row < m && pack < packs) {
      const uint4 xv = __ldg(reinterpret_cast<const uint4*>(a_lane + row * k + pack * gptq::kPackValues));
      x[0] = xv.x, x[1] = xv.y, x[2] = xv.z, x[3] = xv.w;
    }
  };
  auto load_stage = [&](int base, uint4 (&w)[kUnroll][kLaneWords]) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
#pragma unroll
      for (int h = 0; h < kLaneWords; ++h)
        w[u][h] = col_ok && base + u < packs
                      ? __ldg(reinterpret_cast<const uint4*>(w_lane + ((base + u) * kBits + h) * n))
                      : make_uint4(0, 0, 0, 0);
  };

  float acc[kMTiles][4][4];
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][j][e] = 0.f;

  MmaGroup<kBits, T> grp{};
  int grp_end = 0;  // packs below this one use grp (a warp's packs only increase)
  uint4 cur[kUnroll][kLaneWords], next[kUnroll][kLaneWords];
  load_stage(warp * kUnroll, cur);
  for (int base = warp * kUnroll; base < packs; base += stride) {
    load_stage(base + stride, next);
    uint32_t xa[kTiles == 0 ? kUnroll : 1][4];
    if constexpr (kTiles == 0) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) load_a(base + u, g, xa[u]);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int pack = base + u;
      if (pack >= packs) break;
      uint32_t areg[kMTiles][2][4];
#pragma unroll
      for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          if (h < kHalves) {
            uint32_t x[4];
            if constexpr (kTiles == 0) {
              x[0] = xa[u][0], x[1] = xa[u][1], x[2] = xa[u][2], x[3] = xa[u][3];
            } else {
              load_a(pack, mt * 16 + g + 8 * h, x);
            }
            activation_regs<kBits>(x, areg[mt][h]);
          } else {
            areg[mt][h][0] = areg[mt][h][1] = areg[mt][h][2] = areg[mt][h][3] = 0u;
          }
        }
      }
      if (pack >= grp_end) {
        const int group = pack / packs_per_group;
        if (col_ok) grp.load(v, group, col);
        grp_end = (group + 1) * packs_per_group;
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        uint32_t w[kLaneWords];
#pragma unroll
        for (int h = 0; h < kLaneWords; ++h) w[h] = j == 0 ? cur[u][h].x : j == 1 ? cur[u][h].y : j == 2 ? cur[u][h].z : cur[u][h].w;
        uint32_t b[4];
        weight_regs<kBits, T>(w, grp, j, b);
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
          const uint32_t lo[4] = {areg[mt][0][0], areg[mt][1][0], areg[mt][0][1], areg[mt][1][1]};
          const uint32_t hi[4] = {areg[mt][0][2], areg[mt][1][2], areg[mt][0][3], areg[mt][1][3]};
          MT::mma(acc[mt][j], lo, b[0], b[1]);
          MT::mma(acc[mt][j], hi, b[2], b[3]);
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
#pragma unroll
      for (int h = 0; h < kLaneWords; ++h) cur[u][h] = next[u][h];
  }

  // The warps' partial sums, added in warp order one m16 tile at a time. Fragment element e of
  // tile j is row g (+8 for e >= 2), tile column 2t (+1 for odd e), i.e. block column 4 * that + j.
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) partial[warp][g + 8 * (e / 2)][4 * (2 * t + e % 2) + j] = acc[mt][j][e];
    __syncthreads();
    for (int i = threadIdx.x; i < 16 * kMmaColumns; i += kMmaWarps * 32) {
      const int row = i / kMmaColumns, c = i % kMmaColumns;
      float sum = 0.f;
#pragma unroll
      for (int w = 0; w < kMmaWarps; ++w) sum += partial[w][row][c];
      const int orow = mt * 16 + row;
      if (orow < m && n0 + c < n) out[orow * n + n0 + c] = static_cast<T>(sum);
    }
    __syncthreads();
  }
}

// a's columns in the order of the prepared weights' rows (act-order): a[:, perm].
template <typename T>
__global__ void gather_columns_kernel(const T* __restrict__ a, const int32_t* __restrict__ perm, T* __restrict__ out,
                                      int64_t m, int64_t k) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < m * k; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = a[i / k * k + gptq::WeightView::clamp(perm[i % k], k)];
}

template <int kBits, typename T, int kTiles>
void launch_mma(const T* a, int m, const gptq::WeightView& v, T* out, gpuStream_t stream) {
  const auto blocks = static_cast<unsigned>((v.n + kMmaColumns - 1) / kMmaColumns);
  fused_mma_kernel<kBits, T, kTiles><<<blocks, kMmaWarps * 32, 0, stream>>>(a, m, v, out);
}

template <int kBits, typename T>
void launch_mma_tiles(const T* a, int m, const gptq::WeightView& v, T* out, gpuStream_t stream) {
  if (m <= 8) return launch_mma<kBits, T, 0>(a, m, v, out, stream);
  switch ((m + 15) / 16) {
    case 1: launch_mma<kBits, T, 1>(a, m, v, out, stream); break;
    case 2: launch_mma<kBits, T, 2>(a, m, v, out, stream); break;
    case 3: launch_mma<kBits, T, 3>(a, m, v, out, stream); break;
    default: launch_mma<kBits, T, kMmaMaxTiles>(a, m, v, out, stream); break;
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
  return uses_mma(v) ? kMmaMaxTiles * 16 + 1 : kGenericTile + 1;
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
    if (uses_mma(v)) {
      // Act-order: a's columns gathered once into the weights' row order (M x K, small), so the
      // kernel's a loads stay 16-byte vectors. Freeing `permuted` after the launches is safe:
      // the allocator reuses memory in stream order.
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
        launch_mma_tiles<4, T>(ap, static_cast<int>(m), view, op, stream);
      } else {
        launch_mma_tiles<8, T>(ap, static_cast<int>(m), view, op, stream);
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
