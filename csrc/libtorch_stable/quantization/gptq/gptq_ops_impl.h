#pragma once
// The GPTQ ops: argument checks, output allocation and the choice of path, shared by every
// backend. A backend's translation unit includes this, specializes GptqLauncher and
// instantiates GptqOps. The format and its arithmetic are in gptq_pack.h.
//
// gptq_shuffle prepares weights for use_exllama=True by reordering the rows of qweight by q_perm
// (act-order: rows then run group by group, so a kernel loads one scale and zero per pack of 32
// rows instead of one per row). The bit layout stays the checkpoint's: our kernels decode it
// directly. gptq_gemm with use_exllama=True then reads b_g_idx as that q_perm, as vLLM passes it.
//
// Paths of gptq_gemm: few rows of `a` go to the backend's fused dequantize-and-multiply kernel,
// many rows dequantize W once to a's dtype and multiply densely (tensor cores on a GPU); the
// backend names the crossover (GptqLauncher::dequant_gemm_min_rows, measured).

#include <torch/csrc/stable/ops.h>

#include <cstdint>

#include "../../ops.h"
#include "../../tensor_checks.h"
#include "gptq_pack.h"

namespace vllm_ops {

// Each backend provides:
//   static void dequantize(const gptq::WeightView&, Tensor& w);      // w [k, n], original row order
//   static void fused_gemm(const Tensor& a, const gptq::WeightView&, Tensor& out);  // out [m, n]
//   static Tensor dense_gemm(const Tensor& a, const Tensor& w);       // a [m, k] @ w [k, n]
//   static int64_t dequant_gemm_min_rows(const gptq::WeightView&);
//   static void permute_rows(const Tensor& src, const Tensor& perm, Tensor& q_weight, int bits);
//       // q_weight's row r (as unpacked values) := src's row perm[r]; perm checked already
template <class Backend>
struct GptqLauncher;

namespace gptq_checks {

using torch::headeronly::ScalarType;

inline void check_bits(const char* op, int64_t bit) {
  TORCH_UTILS_CHECK(gptq::supported_bits(bit), op, ": bit must be 2, 3, 4 or 8, got ", bit);
}

inline void check_int_matrix(const char* op, const char* arg, const Tensor& t) {
  check_dtype_in(op, arg, t, {ScalarType::Int});
  TORCH_UTILS_CHECK(t.dim() == 2, op, ": ", arg, " must be 2-D, got shape ", shape_str(t));
  check_contiguous(op, arg, t);
}

// An index vector (g_idx, q_perm): empty for none, else int32 [k] on the device of `ref`.
inline bool check_index_vector(const char* op, const char* arg, const Tensor& t, int64_t k, const char* ref_arg,
                               const Tensor& ref) {
  TORCH_UTILS_CHECK(t.defined(), op, ": ", arg, " must be a tensor (an empty one for none), got None");
  if (t.numel() == 0) return false;
  check_dtype_in(op, arg, t, {ScalarType::Int});
  TORCH_UTILS_CHECK(t.dim() == 1 && t.size(0) == k, op, ": ", arg, " must be empty or 1-D of length ", k,
                    " (one entry per row of K), got shape ", shape_str(t));
  check_contiguous(op, arg, t);
  check_same_device(op, arg, t, ref_arg, ref);
  return true;
}

// The kernels' vector loads: 16 bytes of a, qweight and g_idx, 8 of scales (every tensor torch
// allocates, and every row slice of one, starts so).
inline void check_load_start(const char* op, const char* arg, const Tensor& t, int64_t bytes) {
  check_aligned(op, arg, t, bytes, " (a view at an element offset is not)");
}

}  // namespace gptq_checks

template <class B>
Tensor GptqOps<B>::gptq_gemm(const Tensor& a, const Tensor& b_q_weight, const Tensor& b_gptq_qzeros,
                             const Tensor& b_gptq_scales, const Tensor& b_g_idx, bool use_exllama,
                             bool use_v2_format, int64_t bit) {
  using torch::headeronly::ScalarType;
  using namespace gptq_checks;
  constexpr const char* op = "gptq_gemm";
  check_bits(op, bit);
  check_dtype_in(op, "a", a, {ScalarType::Half, ScalarType::BFloat16});
  TORCH_UTILS_CHECK(a.dim() == 2, op, ": a must be 2-D [M, K], got shape ", shape_str(a));
  check_contiguous(op, "a", a);
  check_int_matrix(op, "b_q_weight", b_q_weight);
  check_same_device(op, "b_q_weight", b_q_weight, "a", a);
  check_int_matrix(op, "b_gptq_qzeros", b_gptq_qzeros);
  check_same_device(op, "b_gptq_qzeros", b_gptq_qzeros, "a", a);
  check_same_dtype(op, "b_gptq_scales", b_gptq_scales, "a", a);
  check_contiguous(op, "b_gptq_scales", b_gptq_scales);
  check_same_device(op, "b_gptq_scales", b_gptq_scales, "a", a);

  const int64_t m = a.size(0), k = a.size(1), n = b_q_weight.size(1);
  TORCH_UTILS_CHECK(k > 0 && k % gptq::kPackValues == 0, op,
                    ": a.size(1) (K) must be a positive multiple of 32, got ", k);
  TORCH_UTILS_CHECK(b_q_weight.size(0) == k * bit / 32, op, ": b_q_weight must have K * bit / 32 = ",
                    k * bit / 32, " rows for K = ", k, " and bit = ", bit, ", got shape ", shape_str(b_q_weight));
  TORCH_UTILS_CHECK(n * bit % 32 == 0, op, ": b_q_weight.size(1) (N) must be a multiple of ", 32 / (bit == 3 ? 1 : bit),
                    " so that qzeros packs whole words at bit = ", bit, ", got ", n);
  const int64_t groups = b_gptq_qzeros.size(0);
  TORCH_UTILS_CHECK(groups >= 1 && b_gptq_qzeros.size(1) == n * bit / 32, op,
                    ": b_gptq_qzeros must be [groups >= 1, N * bit / 32 = ", n * bit / 32, "], got shape ",
                    shape_str(b_gptq_qzeros));
  TORCH_UTILS_CHECK(b_gptq_scales.dim() == 2 && b_gptq_scales.size(0) == groups && b_gptq_scales.size(1) == n, op,
                    ": b_gptq_scales must be [groups = ", groups, ", N = ", n, "] (groups from b_gptq_qzeros), got shape ",
                    shape_str(b_gptq_scales));
  TORCH_UTILS_CHECK(k % groups == 0 && (k / groups) % gptq::kPackValues == 0, op,
                    ": K / groups must be a whole multiple of 32 (the group size), got K = ", k, ", groups = ", groups);
  const bool has_index = check_index_vector(op, "b_g_idx", b_g_idx, k, "a", a);
  check_load_start(op, "a", a, 16);
  check_load_start(op, "b_q_weight", b_q_weight, 16);
  check_load_start(op, "b_gptq_scales", b_gptq_scales, 8);
  if (has_index) check_load_start(op, "b_g_idx", b_g_idx, 16);

  gptq::WeightView v{};
  v.qweight = static_cast<const uint32_t*>(b_q_weight.const_data_ptr());
  v.qzeros = static_cast<const uint32_t*>(b_gptq_qzeros.const_data_ptr());
  v.scales = b_gptq_scales.const_data_ptr();
  const auto* index = has_index ? static_cast<const int32_t*>(b_g_idx.const_data_ptr()) : nullptr;
  v.row_group = use_exllama ? nullptr : index;
  v.perm = use_exllama ? index : nullptr;
  v.k = k, v.n = n, v.groups = groups, v.group_size = k / groups;
  v.bits = static_cast<int>(bit);
  v.v2_zeros = use_v2_format;
  v.device = a.get_device_index();

  if (m == 0 || n == 0) return torch::stable::new_empty(a, {m, n});
  if (m >= GptqLauncher<B>::dequant_gemm_min_rows(v)) {
    Tensor w = torch::stable::new_empty(a, {k, n});
    GptqLauncher<B>::dequantize(v, w);
    return GptqLauncher<B>::dense_gemm(a, w);
  }
  Tensor out = torch::stable::new_empty(a, {m, n});
  GptqLauncher<B>::fused_gemm(a, v, out);
  return out;
}

template <class B>
void GptqOps<B>::gptq_shuffle(Tensor& q_weight, const Tensor& q_perm, int64_t bit) {
  using namespace gptq_checks;
  constexpr const char* op = "gptq_shuffle";
  check_bits(op, bit);
  check_int_matrix(op, "q_weight", q_weight);
  TORCH_UTILS_CHECK(q_weight.size(0) % bit == 0, op, ": q_weight.size(0) must be a multiple of bit = ", bit,
                    " (K * bit / 32 rows with K a multiple of 32), got shape ", shape_str(q_weight));
  const int64_t k = q_weight.size(0) * 32 / bit;
  if (!check_index_vector(op, "q_perm", q_perm, k, "q_weight", q_weight)) return;  // no reordering asked
  check_no_overlap(op, "q_perm", q_perm, "q_weight", q_weight);
  // A one-time preparation step, so the values are checked on the host even for GPU tensors.
  const Tensor host = torch::stable::to(q_perm, torch::stable::Device(torch::headeronly::DeviceType::CPU));
  const auto* p = static_cast<const int32_t*>(host.const_data_ptr());
  std::vector<char> seen(static_cast<size_t>(k), 0);
  for (int64_t r = 0; r < k; ++r) {
    TORCH_UTILS_CHECK(p[r] >= 0 && p[r] < k && !seen[p[r]], op, ": q_perm must be a permutation of 0..", k - 1,
                      ", got ", p[r], " at ", r, p[r] >= 0 && p[r] < k ? " (a repeat)" : "");
    seen[p[r]] = 1;
  }
  if (q_weight.numel() == 0) return;
  const Tensor src = torch::stable::clone(q_weight);
  GptqLauncher<B>::permute_rows(src, q_perm, q_weight, static_cast<int>(bit));
}

}  // namespace vllm_ops
