#pragma once
// Host entry points of every op, in the argument order of its schema. Each op family is a
// class template over the backend; a backend's translation unit explicitly instantiates it.

#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>

#include <optional>
#include <tuple>
#include <vector>

namespace vllm_ops {

using torch::stable::Tensor;

struct CpuBackend;
struct GpuBackend;  // CUDA, or HIP in a ROCm build

template <class Backend>
struct ActivationOps {
  static void silu_and_mul(Tensor& out, const Tensor& input);
  static void mul_and_silu(Tensor& out, const Tensor& input);
  static void silu_and_mul_with_clamp(Tensor& out, const Tensor& input, double limit);
  static void gelu_and_mul(Tensor& out, const Tensor& input);
  static void gelu_tanh_and_mul(Tensor& out, const Tensor& input);
  static void fatrelu_and_mul(Tensor& out, const Tensor& input, double threshold);
  static void swigluoai_and_mul(Tensor& out, const Tensor& input, double alpha, double limit);
  static void gelu_new(Tensor& out, const Tensor& input);
  static void gelu_fast(Tensor& out, const Tensor& input);
  static void gelu_quick(Tensor& out, const Tensor& input);
};

template <class Backend>
struct QuantOps {
  static void static_scaled_int8_quant(Tensor& result, const Tensor& input, const Tensor& scale,
                                       const std::optional<Tensor>& azp);
  static void dynamic_scaled_int8_quant(Tensor& result, const Tensor& input, Tensor& scale,
                                        const std::optional<Tensor>& azp);
  static void static_scaled_fp8_quant(Tensor& result, const Tensor& input, const Tensor& scale,
                                      const std::optional<std::vector<int64_t>>& group_shape);
  static void dynamic_scaled_fp8_quant(Tensor& result, const Tensor& input, Tensor& scale);
  static void dynamic_per_token_scaled_fp8_quant(Tensor& result, const Tensor& input, Tensor& scale,
                                                 const std::optional<Tensor>& scale_ub);
};

template <class Backend>
struct GgufOps {
  static Tensor ggml_dequantize(const Tensor& W, int64_t type, int64_t m, int64_t n,
                                std::optional<torch::headeronly::ScalarType> dtype);
  static Tensor ggml_mul_mat_vec_a8(const Tensor& W, const Tensor& X, int64_t type, int64_t row);
  static Tensor ggml_mul_mat_a8(const Tensor& W, const Tensor& X, int64_t type, int64_t row);
  static Tensor ggml_moe_a8(const Tensor& X, const Tensor& W, const Tensor& sorted_token_ids,
                            const Tensor& expert_ids, const Tensor& num_tokens_post_padded, int64_t type,
                            int64_t row, int64_t top_k, int64_t tokens);
  static Tensor ggml_moe_a8_vec(const Tensor& X, const Tensor& W, const Tensor& topk_ids, int64_t top_k,
                                int64_t type, int64_t row, int64_t tokens);
};

template <class Backend>
struct GptqOps {
  static Tensor gptq_gemm(const Tensor& a, const Tensor& b_q_weight, const Tensor& b_gptq_qzeros,
                          const Tensor& b_gptq_scales, const Tensor& b_g_idx, bool use_exllama,
                          bool use_v2_format, int64_t bit);
  static void gptq_shuffle(Tensor& q_weight, const Tensor& q_perm, int64_t bit);
};

// Backend-independent: the sorted-block size ggml_moe_a8 expects for a type.
int64_t ggml_moe_get_block_size(int64_t type);

// ggml_dequantize when no backend kernel takes the call: W is its only tensor, so a None W
// dispatches on no device at all (the dispatcher would only say "no tensor arguments"), and a W
// on a device this build has no kernel for lands here too. Always raises, naming W.
Tensor ggml_dequantize_without_kernel(const Tensor& W, int64_t type, int64_t m, int64_t n,
                                      std::optional<torch::headeronly::ScalarType> dtype);

// Backend-independent: whether this build's scaled_mm kernels serve a device capability
// (major * 10 + minor) for FP8, block-scaled FP8 and FP4 operands.
bool scaled_mm_supports_fp8(int64_t cuda_device_capability);
bool scaled_mm_supports_block_fp8(int64_t cuda_device_capability);
bool scaled_mm_supports_fp4(int64_t cuda_device_capability);

// CUDA-only (defined in CUDA builds only; registered under the fence in torch_bindings.cpp).
Tensor awq_dequantize(const Tensor& qweight, const Tensor& scales, const Tensor& qzeros, int64_t split_k_iters,
                      int64_t thx, int64_t thy);
Tensor awq_gemm(const Tensor& in_feats, const Tensor& qweight, const Tensor& scales, const Tensor& qzeros,
                int64_t split_k_iters);
Tensor permute_cols(const Tensor& A, const Tensor& perm);
// Only in builds whose arch list has 9.0a (VLLM_OPS_HAS_CUTLASS_W8A8).
void cutlass_scaled_mm(Tensor& out, const Tensor& a, const Tensor& b, const Tensor& a_scales, const Tensor& b_scales,
                       const std::optional<Tensor>& bias);
void cutlass_scaled_mm_azp(Tensor& out, const Tensor& a, const Tensor& b, const Tensor& a_scales,
                           const Tensor& b_scales, const Tensor& azp_adj, const std::optional<Tensor>& azp,
                           const std::optional<Tensor>& bias);
std::tuple<Tensor, Tensor> scaled_fp4_quant(const Tensor& input, const Tensor& input_scale, bool is_sf_swizzled_layout);
void scaled_fp4_quant_out(const Tensor& input, const Tensor& input_scale, bool is_sf_swizzled_layout, Tensor& output,
                          Tensor& output_scale);

}  // namespace vllm_ops
