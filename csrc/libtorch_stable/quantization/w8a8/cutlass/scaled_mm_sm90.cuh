#pragma once
// cutlass_scaled_mm on Hopper (sm_90a), built from CUTLASS 3.x collectives: TMA loads and
// warpgroup MMA in a warp-specialized persistent kernel, and the scales and bias applied in the
// epilogue as an epilogue visitor tree, so the product never leaves the SM unscaled:
//
//   out[m, n] = a_scales[m or 0] * (b_scales[n or 0] * acc[m, n]) + bias[n or none]
//
// and for cutlass_scaled_mm_azp (int8 a with zero points), acc[m, n] - azp[m or none] * azp_adj[n]
// in place of acc, in int32 (exact), with azp_adj = azp * column sums of b for a per-tensor zero
// point (azp none, read as 1) or the column sums alone for per-token zero points.
//
// acc is a @ b in fp32 (fp8 e4m3 inputs) or int32 (int8 inputs, converted to fp32 once, exact up
// to 2^24). Each scale is a vector or a scalar, chosen at run time (CUTLASS's dynamic broadcast
// strides), and a missing bias is a null pointer read as 0, so one kernel per input dtype, output
// dtype and tile shape serves every scale combination with and without bias.
//
// Included only by the sm_90a translation units of the cutlass_w8a8 family (env.yaml), which
// cmake/cuda.cmake compiles for that arch alone.

#include <cute/tensor.hpp>
#include <cutlass/cutlass.h>
#include <cutlass/epilogue/collective/collective_builder.hpp>
#include <cutlass/epilogue/fusion/sm90_visitor_tma_warpspecialized.hpp>
#include <cutlass/gemm/collective/collective_builder.hpp>
#include <cutlass/gemm/device/gemm_universal_adapter.h>
#include <cutlass/gemm/kernel/gemm_universal.hpp>

#include <cstdint>
#include <type_traits>

#include "../../../../torch_utils.h"
#include "scaled_mm_args.h"

namespace vllm_ops::scaled_mm_sm90 {

using namespace cute;

// A tile shape, a cluster shape and the kernel schedule that runs them. Pingpong: two consumer
// warpgroups take alternate tiles, so one's epilogue hides behind the other's MMA.
template <int kTileM, int kTileN, int kTileK, int kClusterM, int kClusterN, class KernelSchedule_,
          class EpilogueSchedule_, class Scheduler_ = cutlass::gemm::PersistentScheduler>
struct TileConfig {
  using TileShape = Shape<Int<kTileM>, Int<kTileN>, Int<kTileK>>;
  using ClusterShape = Shape<Int<kClusterM>, Int<kClusterN>, _1>;
  using KernelSchedule = KernelSchedule_;
  using EpilogueSchedule = EpilogueSchedule_;
  using Scheduler = Scheduler_;
};

// fp8 without periodic promotion of the accumulators (as cuBLASLt's default fast accumulation):
// the issue's throughput targets assume it; tests bound the error it adds at K = 14336.
// One consumer warpgroup per tile, a CTA per tile (not persistent).
template <class ElementAB>
using BasicSchedule = std::conditional_t<std::is_same_v<ElementAB, int8_t>, cutlass::gemm::KernelTmaWarpSpecialized,
                                         cutlass::gemm::KernelTmaWarpSpecializedFP8FastAccum>;

template <class ElementAB>
using PingpongSchedule = std::conditional_t<std::is_same_v<ElementAB, int8_t>,
                                            cutlass::gemm::KernelTmaWarpSpecializedPingpong,
                                            cutlass::gemm::KernelTmaWarpSpecializedPingpongFP8FastAccum>;

// A vector of the tokens' direction (a_scales, azp) or of the weights' (b_scales, bias, azp_adj),
// along the GEMM's M (a column broadcast) or N (a row broadcast), possibly a run-time scalar.
template <bool kAlongM, class TileShape, class Element, class Compute, int kAlignment>
using VectorOrScalar = std::conditional_t<
    kAlongM,
    cutlass::epilogue::fusion::Sm90ColBroadcast<0, TileShape, Element, Compute, Stride<bool, _0, int64_t>, kAlignment>,
    cutlass::epilogue::fusion::Sm90RowBroadcast<0, TileShape, Element, Compute, Stride<_0, bool, int64_t>, kAlignment>>;
template <bool kAlongM, class TileShape, class Element, class Compute, int kAlignment>
using Vector = std::conditional_t<
    kAlongM,
    cutlass::epilogue::fusion::Sm90ColBroadcast<0, TileShape, Element, Compute, Stride<_1, _0, int64_t>, kAlignment>,
    cutlass::epilogue::fusion::Sm90RowBroadcast<0, TileShape, Element, Compute, Stride<_0, _1, int64_t>, kAlignment>>;
template <bool kAlongM>
auto vector_or_scalar_stride(bool vector) {
  if constexpr (kAlongM) {
    return Stride<bool, _0, int64_t>{vector, _0{}, int64_t{0}};
  } else {
    return Stride<_0, bool, int64_t>{_0{}, vector, int64_t{0}};
  }
}

// kSwapAB computes out^T = b^T a^T: the weights' N becomes the MMA's M (at least 64 rows per
// tile) and the few tokens its N (as few as 8), so a token count far below 64 wastes no tile rows.
// The epilogue's operations and their order are the same either way (the same bits).
template <class ElementAB, class ElementOut, class Config, bool kZeroPoints, bool kSwapAB = false>
struct ScaledMm {
  using ElementAcc = std::conditional_t<std::is_same_v<ElementAB, int8_t>, int32_t, float>;
  using TileShape = typename Config::TileShape;
  static constexpr auto kRound = cutlass::FloatRoundStyle::round_to_nearest;
  static constexpr int kOutAlignment = 16 / sizeof(ElementOut);
  static constexpr bool kTokensAlongM = !kSwapAB;

  // a bool stride is a vector (true) or a scalar (false). Alignment 1 along the tokens, whose
  // count is any M (odd M included); the weights' vectors are 16-byte aligned (N % 16 == 0).
  using ScaleA = VectorOrScalar<kTokensAlongM, TileShape, float, float, 1>;
  using ScaleB = VectorOrScalar<!kTokensAlongM, TileShape, float, float, 4>;
  using Bias = Vector<!kTokensAlongM, TileShape, ElementOut, float, kOutAlignment>;
  // acc - azp * azp_adj (int32), where a null azp reads as 1.
  using Azp = Vector<kTokensAlongM, TileShape, int32_t, int32_t, 1>;
  using AzpAdj = Vector<!kTokensAlongM, TileShape, int32_t, int32_t, 4>;
  using ZeroPointTerm = cutlass::epilogue::fusion::Sm90EVT<
      cutlass::epilogue::fusion::Sm90Compute<cutlass::multiplies, int32_t, int32_t, kRound>, Azp, AzpAdj>;
  using ZeroedAcc = cutlass::epilogue::fusion::Sm90EVT<
      cutlass::epilogue::fusion::Sm90Compute<cutlass::minus, int32_t, int32_t, kRound>,
      cutlass::epilogue::fusion::Sm90AccFetch, ZeroPointTerm>;
  using Acc = std::conditional_t<kZeroPoints, ZeroedAcc, cutlass::epilogue::fusion::Sm90AccFetch>;
  using ScaledAcc = cutlass::epilogue::fusion::Sm90EVT<
      cutlass::epilogue::fusion::Sm90Compute<cutlass::multiplies, float, float, kRound>, ScaleB, Acc>;
  using Epilogue = cutlass::epilogue::fusion::Sm90EVT<
      cutlass::epilogue::fusion::Sm90Compute<cutlass::homogeneous_multiply_add, ElementOut, float, kRound>, ScaleA,
      ScaledAcc, Bias>;

  // out [M, N] row-major is out^T column-major.
  using LayoutOut = std::conditional_t<kSwapAB, cutlass::layout::ColumnMajor, cutlass::layout::RowMajor>;
  using CollectiveEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, typename Config::ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, ElementAcc, float, void, LayoutOut, kOutAlignment, ElementOut,
      LayoutOut, kOutAlignment, typename Config::EpilogueSchedule, Epilogue>::CollectiveOp;

  // a row-major [M, K] and b column-major [K, N]: both K-major, 16-byte aligned rows, whichever
  // is the MMA's A.
  using CollectiveMainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, ElementAB, cutlass::layout::RowMajor, 16, ElementAB,
      cutlass::layout::ColumnMajor, 16, ElementAcc, TileShape, typename Config::ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename CollectiveEpilogue::SharedStorage))>,
      typename Config::KernelSchedule>::CollectiveOp;

  using Kernel = cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, CollectiveMainloop,
                                                       CollectiveEpilogue, typename Config::Scheduler>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;

  static typename Gemm::Arguments arguments(const ScaledMmArgs& p) {
    using StrideA = typename Kernel::StrideA;
    using StrideB = typename Kernel::StrideB;
    using StrideC = typename Kernel::StrideC;
    using StrideD = typename Kernel::StrideD;
    const auto* tokens = static_cast<const ElementAB*>(p.a);
    const auto* weights = static_cast<const ElementAB*>(p.b);
    StrideD stride_out{};
    if constexpr (kSwapAB) {
      stride_out = StrideD{_1{}, p.ldd, int64_t{0}};
    } else {
      stride_out = StrideD{p.ldd, _1{}, int64_t{0}};
    }
    typename Gemm::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGemm,
        kSwapAB ? typename Kernel::ProblemShape{static_cast<int>(p.n), static_cast<int>(p.m), static_cast<int>(p.k), 1}
                : typename Kernel::ProblemShape{static_cast<int>(p.m), static_cast<int>(p.n), static_cast<int>(p.k), 1},
        {kSwapAB ? weights : tokens, StrideA{kSwapAB ? p.ldb : p.lda, _1{}, int64_t{0}}, kSwapAB ? tokens : weights,
         StrideB{kSwapAB ? p.lda : p.ldb, _1{}, int64_t{0}}},
        {{},  // the visitor tree's arguments, set below
         nullptr, StrideC{}, static_cast<ElementOut*>(p.out), stride_out}};
    auto& tree = args.epilogue.thread;
    // A node's arguments: its children's in order, then its own (empty for these operations).
    typename Acc::Arguments acc{};
    if constexpr (kZeroPoints) {
      acc = {{}, {{p.azp, int32_t{1}, {}}, {p.azp_adj, int32_t{0}, {}}, {}}, {}};
    }
    tree = {{p.a_scales, 0.f, vector_or_scalar_stride<kTokensAlongM>(p.a_scales_per_row)},
            {{p.b_scales, 0.f, vector_or_scalar_stride<!kTokensAlongM>(p.b_scales_per_column)}, acc, {}},
            {static_cast<const ElementOut*>(p.bias), ElementOut(0.f), {}},
            {}};
    args.hw_info.device_id = p.device;
    args.hw_info.sm_count = p.sm_count;
    return args;
  }
};

// Runs one instantiation: checks that CUTLASS can take the problem, allocates its workspace
// through the caller (torch's allocator), launches on the caller's stream.
template <class Mm>
void run(const ScaledMmArgs& p, const WorkspaceFn& workspace) {
  typename Mm::Gemm gemm;
  auto args = Mm::arguments(p);
  const cutlass::Status can = gemm.can_implement(args);
  TORCH_UTILS_CHECK(can == cutlass::Status::kSuccess, p.op, ": CUTLASS cannot run this problem (M = ", p.m,
                    ", N = ", p.n, ", K = ", p.k, "): ", cutlassGetStatusString(can));
  const size_t bytes = Mm::Gemm::get_workspace_size(args);
  void* scratch = bytes ? workspace(bytes) : nullptr;
  const cutlass::Status init = gemm.initialize(args, scratch, p.stream);
  TORCH_UTILS_CHECK(init == cutlass::Status::kSuccess, p.op, ": CUTLASS initialize failed: ",
                    cutlassGetStatusString(init));
  const cutlass::Status ran = gemm.run(p.stream);
  TORCH_UTILS_CHECK(ran == cutlass::Status::kSuccess, p.op, ": CUTLASS launch failed: ",
                    cutlassGetStatusString(ran));
}

// The four tile shapes (scaled_mm_args.h, choose_tiles, says which one a problem gets), measured
// against each other on the H200 (benchmarks/NOTES.md, session 15; scripts/scaled_mm_tile_probe.cu).
// Few tokens: swapped, 64 weight rows x 16 tokens x 256 deep, one CTA per tile (7.6 us at
// 1-16 x 4096 x 4096, where 64 x 32 unswapped pingpong took 11.5-12.4).
template <class ElementAB>
using FewTokenTiles =
    TileConfig<64, 16, 256, 1, 1, BasicSchedule<ElementAB>, cutlass::epilogue::TmaWarpSpecialized, void>;
// Up to 128 tokens: swapped, 64 x 64 pingpong (8.7-9.0 us at 64-128 x 4096 x 4096).
template <class ElementAB>
using SomeTokenTiles = TileConfig<64, 64, 128, 1, 1, PingpongSchedule<ElementAB>, cutlass::epilogue::TmaWarpSpecialized>;
template <class ElementAB>
using MediumTiles = TileConfig<64, 128, 128, 1, 1, PingpongSchedule<ElementAB>, cutlass::epilogue::TmaWarpSpecialized>;
template <class ElementAB>
using LargeTiles = TileConfig<128, 128, 128, 2, 1, PingpongSchedule<ElementAB>, cutlass::epilogue::TmaWarpSpecialized>;

template <class ElementAB, class ElementOut, bool kZeroPoints>
void dispatch_tiles(const ScaledMmArgs& p, const WorkspaceFn& workspace) {
  switch (p.tiles) {
    case TileChoice::kFewTokens:
      return run<ScaledMm<ElementAB, ElementOut, FewTokenTiles<ElementAB>, kZeroPoints, true>>(p, workspace);
    case TileChoice::kSomeTokens:
      return run<ScaledMm<ElementAB, ElementOut, SomeTokenTiles<ElementAB>, kZeroPoints, true>>(p, workspace);
    case TileChoice::kMedium:
      return run<ScaledMm<ElementAB, ElementOut, MediumTiles<ElementAB>, kZeroPoints>>(p, workspace);
    case TileChoice::kLarge:
      return run<ScaledMm<ElementAB, ElementOut, LargeTiles<ElementAB>, kZeroPoints>>(p, workspace);
  }
}

// One translation unit per input dtype (and zero-point variant) instantiates this for both
// output dtypes, so the three compile in parallel.
template <class ElementAB, bool kZeroPoints>
void dispatch_output(const ScaledMmArgs& p, const WorkspaceFn& workspace) {
  if (p.out_bf16) {
    dispatch_tiles<ElementAB, cutlass::bfloat16_t, kZeroPoints>(p, workspace);
  } else {
    dispatch_tiles<ElementAB, cutlass::half_t, kZeroPoints>(p, workspace);
  }
}

}  // namespace vllm_ops::scaled_mm_sm90
