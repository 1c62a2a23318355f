// CPU launcher for the W8A8 quantization ops: rows in parallel, each row's statistics then its
// quantized values, through the same plans as the GPU kernels.

#include <torch/csrc/stable/ops.h>

#include <algorithm>
#include <vector>

#include "../libtorch_stable/quantization/w8a8/quant_ops_impl.h"

namespace vllm_ops {

namespace {

constexpr int64_t kGrainElements = 1 << 15;

template <quant::RowStats kKind, typename T>
quant::Stats row_stats(const T* row, int64_t cols) {
  quant::Stats s = quant::stats_identity<kKind>();
  for (int64_t c = 0; c < cols; ++c) s = quant::stats_add<kKind>(s, static_cast<float>(row[c]));
  return s;
}

}  // namespace

template <>
struct QuantLauncher<CpuBackend> {
  template <typename T, RowOrder, class Plan>
  static void rows(const Plan& plan, typename Plan::Out* out, const T* in, RowLayout2D l, const Tensor&) {
    const int64_t grain_rows = kGrainElements / l.cols + 1;
    torch::stable::parallel_for(0, l.rows, grain_rows, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* in_row = in + r * l.in_stride;
        typename Plan::Out* out_row = out + r * l.out_stride;
        quant::Stats stats{};
        if constexpr (Plan::kStats != quant::RowStats::kNone) {
          stats = row_stats<Plan::kStats>(in_row, l.cols);
          plan.store_row(r, stats);
        }
        const auto quantize = plan.for_row(r, stats);
        for (int64_t c = 0; c < l.cols; ++c) out_row[c] = quantize(static_cast<float>(in_row[c]), c);
      }
    });
  }

  template <typename T, class Fp8>
  static void tensor_scale(float* scale, const T* in, RowLayout2D l, const Tensor&) {
    constexpr auto kAbsMax = quant::RowStats::kAbsMax;
    const int64_t grain_rows = kGrainElements / std::max<int64_t>(l.cols, 1) + 1;
    const int64_t chunks = (l.rows + grain_rows - 1) / grain_rows;
    std::vector<float> partial(static_cast<size_t>(chunks), 0.0f);
    torch::stable::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        quant::Stats s = quant::stats_identity<kAbsMax>();
        for (int64_t r = k * grain_rows; r < std::min(l.rows, (k + 1) * grain_rows); ++r)
          s = quant::stats_merge<kAbsMax>(s, row_stats<kAbsMax>(in + r * l.in_stride, l.cols));
        partial[k] = s.hi;
      }
    });
    float absmax = 0.0f;
    for (float p : partial) absmax = fmaxf(absmax, p);
    *scale = quant::fp8_tensor_scale<Fp8>(absmax);
  }
};

template struct QuantOps<CpuBackend>;

}  // namespace vllm_ops
