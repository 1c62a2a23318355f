// cutlass_scaled_mm and cutlass_scaled_mm_azp: argument checks and dispatch to the sm_90a
// kernels (scaled_mm_sm90_*.cu). Compiled, and registered, only when the build's arch list has
// 9.0a (env.yaml families.cutlass_w8a8.cuda_archs); the kernels run on compute capability 9.0.
//
// Layouts (vLLM's): a [M, K] row-major, b [K, N] column-major (the transpose of a row-major
// [N, K] weight), out [M, N] row-major; K and N multiples of 16, since TMA moves 16-byte-aligned
// rows. Scales fp32: a_scales [1] or [M] (any shape with that many elements), b_scales [1] or
// [N]; bias [N] in out's dtype.

#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/ops.h>

#include <optional>

#include "../../../../gpu_runtime.h"
#include "../../../ops.h"
#include "../../../tensor_checks.h"
#include "scaled_mm_args.h"

namespace vllm_ops {
namespace {

using torch::headeronly::ScalarType;

// The row stride a kernel is given: a single row's stride is irrelevant, and torch may report
// anything for it, so it becomes the row's width.
int64_t row_stride(const Tensor& t, int64_t dim_of_rows, int64_t width) {
  return t.size(dim_of_rows) == 1 ? width : t.stride(dim_of_rows);
}

void check_vector(const char* op, const char* arg, const Tensor& t, ScalarType dtype, const char* dtype_name,
                  const Tensor& out, std::initializer_list<int64_t> lengths, const char* expected) {
  check_dtype_in(op, arg, t, {dtype});
  bool ok = false;
  for (int64_t n : lengths) ok = ok || t.numel() == n;
  TORCH_UTILS_CHECK(ok, op, ": ", arg, " must hold ", expected, " ", dtype_name, " values, got shape ", shape_str(t));
  check_contiguous(op, arg, t);
  check_same_device(op, arg, t, "out", out);
  check_no_overlap(op, "out", out, arg, t);
  // The row broadcasts read 16-byte vectors of a per-column vector.
  check_aligned(op, arg, t, 16, " (use a fresh or contiguous tensor)");
}

ScaledMmArgs check_and_describe(const char* op, Tensor& out, const Tensor& a, const Tensor& b,
                                const Tensor& a_scales, const Tensor& b_scales, const std::optional<Tensor>& bias,
                                bool int8_only) {
  check_dtype_in(op, "out", out, {ScalarType::Half, ScalarType::BFloat16});
  TORCH_UTILS_CHECK(out.is_cuda(), op, ": out must be a CUDA tensor, got ", device_str(out.device()));
  if (int8_only) {
    check_dtype_in(op, "a", a, {ScalarType::Char});
  } else {
    check_dtype_in(op, "a", a, {ScalarType::Float8_e4m3fn, ScalarType::Char});
  }
  check_same_dtype(op, "b", b, "a", a);
  check_same_device(op, "a", a, "out", out);
  check_same_device(op, "b", b, "out", out);
  TORCH_UTILS_CHECK(a.dim() == 2, op, ": a must be 2-D [M, K], got shape ", shape_str(a));
  TORCH_UTILS_CHECK(b.dim() == 2 && b.size(0) == a.size(1), op, ": b must be 2-D [K, N] with K = a.size(1) = ",
                    a.size(1), ", got shape ", shape_str(b));
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  TORCH_UTILS_CHECK(out.dim() == 2 && out.size(0) == m && out.size(1) == n, op, ": out must be [M, N] = [", m, ", ",
                    n, "], got shape ", shape_str(out));
  TORCH_UTILS_CHECK(k > 0 && k % 16 == 0, op, ": K = ", k, " must be a positive multiple of 16 (16-byte rows)");
  TORCH_UTILS_CHECK(n % 16 == 0, op, ": N = ", n, " must be a multiple of 16 (16-byte rows)");
  TORCH_UTILS_CHECK(a.stride(1) == 1 || m <= 1, op, ": a must be row-major (unit stride along K), got strides (",
                    a.stride(0), ", ", a.stride(1), ")");
  TORCH_UTILS_CHECK(b.stride(0) == 1, op, ": b must be column-major (unit stride along K, e.g. w.t() of a "
                    "row-major [N, K] w), got strides (", b.stride(0), ", ", b.stride(1), ")");
  TORCH_UTILS_CHECK(out.stride(1) == 1 || m == 0, op, ": out must be row-major (unit stride along N), got strides (",
                    out.stride(0), ", ", out.stride(1), ")");
  ScaledMmArgs p{};
  p.op = op;
  p.m = m, p.n = n, p.k = k;
  p.lda = row_stride(a, 0, k);
  p.ldb = b.stride(1);  // N is a multiple of 16, so never a single column
  p.ldd = row_stride(out, 0, n);
  TORCH_UTILS_CHECK(p.lda % 16 == 0 && p.ldb % 16 == 0 && p.ldd * int64_t(out.element_size()) % 16 == 0, op,
                    ": the row strides of a, b and out must be multiples of 16 bytes, got ", p.lda, ", ", p.ldb,
                    " and ", p.ldd, " elements");
  check_aligned(op, "a", a, 16, "");
  check_aligned(op, "b", b, 16, "");
  check_aligned(op, "out", out, 16, "");
  check_no_overlap(op, "out", out, "a", a);
  check_no_overlap(op, "out", out, "b", b);
  check_vector(op, "a_scales", a_scales, ScalarType::Float, "fp32", out, {1, m}, "1 (per-tensor) or M (per-token)");
  check_vector(op, "b_scales", b_scales, ScalarType::Float, "fp32", out, {1, n}, "1 (per-tensor) or N (per-channel)");
  p.a_scales_per_row = a_scales.numel() != 1;
  p.b_scales_per_column = b_scales.numel() != 1;
  if (bias.has_value()) {
    check_same_dtype(op, "bias", *bias, "out", out);
    check_vector(op, "bias", *bias, out.scalar_type(), "out-dtype", out, {n}, "N");
    p.bias = bias->const_data_ptr();
  }
  p.a = a.const_data_ptr();
  p.b = b.const_data_ptr();
  p.out = out.mutable_data_ptr();
  p.a_scales = static_cast<const float*>(a_scales.const_data_ptr());
  p.b_scales = static_cast<const float*>(b_scales.const_data_ptr());
  p.out_bf16 = out.scalar_type() == ScalarType::BFloat16;
  p.device = out.get_device_index();
  const int major = compute_capability_major(p.device);
  const int minor = cached_device_attribute<cudaDevAttrComputeCapabilityMinor>(p.device);
  TORCH_UTILS_CHECK(major == 9 && minor == 0, op, ": this build's kernels are for compute capability 9.0 (sm_90a, "
                    "Hopper); device ", p.device, " is ", major, ".", minor,
                    " (cutlass_scaled_mm_supports_fp8 answers which capabilities are served)");
  p.sm_count = multiprocessor_count(p.device);
  p.tiles = choose_tiles(m, n, p.sm_count);
  return p;
}

template <class Kernel>
void launch(ScaledMmArgs& p, Tensor& out, Kernel kernel) {
  torch::stable::accelerator::DeviceGuard guard(p.device);
  p.stream = current_gpu_stream(p.device);
  std::optional<Tensor> scratch;  // lives until the launch is queued; the allocator orders reuse on the stream
  kernel(p, [&](size_t bytes) {
    scratch = torch::stable::new_empty(out, {static_cast<int64_t>(bytes)}, ScalarType::Byte);
    return scratch->mutable_data_ptr();
  });
  VLLM_OPS_GPU_CHECK(cudaGetLastError());
}

}  // namespace

void cutlass_scaled_mm(Tensor& out, const Tensor& a, const Tensor& b, const Tensor& a_scales,
                       const Tensor& b_scales, const std::optional<Tensor>& bias) {
  ScaledMmArgs p = check_and_describe("cutlass_scaled_mm", out, a, b, a_scales, b_scales, bias, false);
  if (p.m == 0 || p.n == 0) return;
  launch(p, out, a.scalar_type() == ScalarType::Char ? scaled_mm_sm90_int8 : scaled_mm_sm90_fp8);
}

void cutlass_scaled_mm_azp(Tensor& out, const Tensor& a, const Tensor& b, const Tensor& a_scales,
                           const Tensor& b_scales, const Tensor& azp_adj, const std::optional<Tensor>& azp,
                           const std::optional<Tensor>& bias) {
  constexpr const char* op = "cutlass_scaled_mm_azp";
  ScaledMmArgs p = check_and_describe(op, out, a, b, a_scales, b_scales, bias, true);
  check_vector(op, "azp_adj", azp_adj, ScalarType::Int, "int32", out, {p.n}, "N");
  p.azp_adj = static_cast<const int32_t*>(azp_adj.const_data_ptr());
  if (azp.has_value()) {
    check_vector(op, "azp", *azp, ScalarType::Int, "int32", out, {p.m}, "M (per-token zero points)");
    p.azp = static_cast<const int32_t*>(azp->const_data_ptr());
  }
  if (p.m == 0 || p.n == 0) return;
  launch(p, out, scaled_mm_azp_sm90_int8);
}

}  // namespace vllm_ops
