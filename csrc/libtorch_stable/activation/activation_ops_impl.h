#pragma once
// Which functor each activation op runs, and the argument checks they share. Included by each
// backend's translation unit, which supplies Backend::launch and instantiates ActivationOps.

#include "../../dispatch_utils.h"
#include "../ops.h"
#include "../tensor_checks.h"
#include "activation_math.h"

namespace vllm_ops {

namespace act = activation;

// `out_arg` is the output's name in the op's schema ("result" or "out").
template <class Backend, class Op>
void run_activation(const char* op_name, const char* out_arg, Tensor& out, const Tensor& input,
                    const Op& op) {
  using torch::headeronly::ScalarType;
  constexpr bool kGated = Op::kLayout != act::RowLayout::kUnary;

  check_dtype_in(op_name, "input", input,
                 {ScalarType::Float, ScalarType::Half, ScalarType::BFloat16});
  check_same_dtype(op_name, out_arg, out, "input", input);
  check_same_device(op_name, out_arg, out, "input", input);
  TORCH_UTILS_CHECK(input.dim() >= 1, op_name, ": input must have at least 1 dimension, got 0");
  check_contiguous(op_name, "input", input);
  check_contiguous(op_name, out_arg, out);
  check_no_overlap(op_name, out_arg, out, "input", input);

  const int64_t in_width = input.size(-1);
  if constexpr (kGated) {
    TORCH_UTILS_CHECK(in_width % 2 == 0, op_name,
                      ": input.size(-1) must be even (gate and up halves), got ", in_width);
  }
  int64_t d = kGated ? in_width / 2 : in_width;
  bool shape_ok = out.dim() == input.dim() && out.size(-1) == d;
  for (int64_t i = 0; shape_ok && i + 1 < input.dim(); ++i) shape_ok = out.size(i) == input.size(i);
  TORCH_UTILS_CHECK(shape_ok, op_name, ": ", out_arg, " must have shape ",
                    kGated ? "input.shape[:-1] + [input.size(-1) / 2]" : "input.shape",
                    " for input of shape ", shape_str(input), ", got ", shape_str(out));

  int64_t rows = d == 0 ? 0 : input.numel() / in_width;
  if (rows == 0 || d == 0) return;
  if constexpr (!kGated) {
    // Both tensors are contiguous, so a unary op sees one long row: wider vectors, no tails.
    d *= rows;
    rows = 1;
  }

  VLLM_OPS_DISPATCH_FLOATING_TYPES(input.scalar_type(), op_name, [&] {
    Backend::template launch<scalar_t>(op, static_cast<scalar_t*>(out.mutable_data_ptr()),
                                       static_cast<const scalar_t*>(input.const_data_ptr()),
                                       rows, d, input);
  });
}

template <class B>
void ActivationOps<B>::silu_and_mul(Tensor& out, const Tensor& input) {
  run_activation<B>("silu_and_mul", "result", out, input, act::ActAndMul<act::Silu, true>{});
}

template <class B>
void ActivationOps<B>::mul_and_silu(Tensor& out, const Tensor& input) {
  run_activation<B>("mul_and_silu", "out", out, input, act::ActAndMul<act::Silu, false>{});
}

// A NaN limit would switch the clamp off (fminf returns the other operand): an error instead.
inline void check_limit(const char* op, double limit) {
  TORCH_UTILS_CHECK(limit == limit, op, ": limit must be a number, got nan (it would turn the clamp off)");
}

template <class B>
void ActivationOps<B>::silu_and_mul_with_clamp(Tensor& out, const Tensor& input, double limit) {
  check_limit("silu_and_mul_with_clamp", limit);
  run_activation<B>("silu_and_mul_with_clamp", "result", out, input,
                    act::SiluAndMulWithClamp{static_cast<float>(limit)});
}

template <class B>
void ActivationOps<B>::gelu_and_mul(Tensor& out, const Tensor& input) {
  run_activation<B>("gelu_and_mul", "out", out, input, act::ActAndMul<act::GeluErf, true>{});
}

template <class B>
void ActivationOps<B>::gelu_tanh_and_mul(Tensor& out, const Tensor& input) {
  run_activation<B>("gelu_tanh_and_mul", "out", out, input, act::ActAndMul<act::GeluTanh, true>{});
}

template <class B>
void ActivationOps<B>::fatrelu_and_mul(Tensor& out, const Tensor& input, double threshold) {
  run_activation<B>("fatrelu_and_mul", "out", out, input,
                    act::ActAndMul<act::FatRelu, true>{act::FatRelu{static_cast<float>(threshold)}});
}

template <class B>
void ActivationOps<B>::swigluoai_and_mul(Tensor& out, const Tensor& input, double alpha,
                                         double limit) {
  check_limit("swigluoai_and_mul", limit);
  run_activation<B>("swigluoai_and_mul", "out", out, input,
                    act::SwigluOAIAndMul{static_cast<float>(alpha), static_cast<float>(limit)});
}

template <class B>
void ActivationOps<B>::gelu_new(Tensor& out, const Tensor& input) {
  run_activation<B>("gelu_new", "out", out, input, act::GeluNew{});
}

template <class B>
void ActivationOps<B>::gelu_fast(Tensor& out, const Tensor& input) {
  run_activation<B>("gelu_fast", "out", out, input, act::GeluFast{});
}

template <class B>
void ActivationOps<B>::gelu_quick(Tensor& out, const Tensor& input) {
  run_activation<B>("gelu_quick", "out", out, input, act::Elementwise<act::GeluQuick>{});
}

}  // namespace vllm_ops
