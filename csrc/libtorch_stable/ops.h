#pragma once
// Host entry points of every op, in the argument order of its schema. Each op family is a
// class template over the backend; a backend's translation unit explicitly instantiates it.

#include <torch/csrc/stable/tensor.h>

#include <optional>
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

}  // namespace vllm_ops
