// CPU launcher for the activation ops: rows in parallel, the shared math per element.

#include <torch/csrc/stable/ops.h>

#include "../libtorch_stable/activation/activation_ops_impl.h"

namespace vllm_ops {

struct CpuBackend {
  template <typename T, class Op>
  static void launch(const Op& op, T* out, const T* in, int64_t rows, int64_t d, const Tensor&) {
    constexpr int64_t kGrainElements = 1 << 15;
    if (rows == 1) {
      // One long row (unary ops): split it into column chunks instead.
      torch::stable::parallel_for(0, d, kGrainElements, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) out[i] = act::apply_at(op, in, d, i);
      });
      return;
    }
    const int64_t in_width = act::input_row_width<Op>(d);
    const int64_t grain_rows = kGrainElements / d + 1;
    torch::stable::parallel_for(0, rows, grain_rows, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* in_row = in + r * in_width;
        T* out_row = out + r * d;
        for (int64_t i = 0; i < d; ++i) out_row[i] = act::apply_at(op, in_row, d, i);
      }
    });
  }
};

template struct ActivationOps<CpuBackend>;

}  // namespace vllm_ops
