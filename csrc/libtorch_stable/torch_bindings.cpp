// The table of contents of the extension: every schema once, then one implementation table per
// dispatch key. The namespace comes from env.yaml (VLLM_OPS_NAMESPACE).

#include <torch/csrc/stable/library.h>

#include "ops.h"

#ifndef VLLM_OPS_NAMESPACE
  #error "VLLM_OPS_NAMESPACE must be defined by the build (env.yaml: ops.namespace)"
#endif

STABLE_TORCH_LIBRARY_FRAGMENT(VLLM_OPS_NAMESPACE, ops) {
  // activation
  ops.def("silu_and_mul(Tensor! result, Tensor input) -> ()");
  ops.def("mul_and_silu(Tensor! out, Tensor input) -> ()");
  ops.def("silu_and_mul_with_clamp(Tensor! result, Tensor input, float limit) -> ()");
  ops.def("gelu_and_mul(Tensor! out, Tensor input) -> ()");
  ops.def("gelu_tanh_and_mul(Tensor! out, Tensor input) -> ()");
  ops.def("fatrelu_and_mul(Tensor! out, Tensor input, float threshold) -> ()");
  ops.def("swigluoai_and_mul(Tensor! out, Tensor input, float alpha=1.702, float limit=7.) -> ()");
  ops.def("gelu_new(Tensor! out, Tensor input) -> ()");
  ops.def("gelu_fast(Tensor! out, Tensor input) -> ()");
  ops.def("gelu_quick(Tensor! out, Tensor input) -> ()");

  // w8a8 int8
  ops.def("static_scaled_int8_quant(Tensor! result, Tensor input, Tensor scale, Tensor? azp) -> ()");
  ops.def("dynamic_scaled_int8_quant(Tensor! result, Tensor input, Tensor! scale, Tensor!? azp) -> ()");

  // w8a8 fp8
  ops.def("static_scaled_fp8_quant(Tensor! result, Tensor input, Tensor scale, int[]? group_shape=None) -> ()");
  ops.def("dynamic_scaled_fp8_quant(Tensor! result, Tensor input, Tensor! scale) -> ()");
  ops.def("dynamic_per_token_scaled_fp8_quant(Tensor! result, Tensor input, Tensor! scale, Tensor? scale_ub) -> ()");

  // gguf
  ops.def("ggml_dequantize(Tensor W, int type, SymInt m, SymInt n, ScalarType? dtype) -> Tensor");
  ops.def("ggml_mul_mat_vec_a8(Tensor W, Tensor X, int type, SymInt row) -> Tensor");
  ops.def("ggml_mul_mat_a8(Tensor W, Tensor X, int type, SymInt row) -> Tensor");
  ops.def("ggml_moe_a8(Tensor X, Tensor W, Tensor sorted_token_ids, Tensor expert_ids, Tensor num_tokens_post_padded, int type, SymInt row, SymInt top_k, SymInt tokens) -> Tensor");
  ops.def("ggml_moe_a8_vec(Tensor X, Tensor W, Tensor topk_ids, int top_k, int type, SymInt row, SymInt tokens) -> Tensor");
  ops.def("ggml_moe_get_block_size(int type) -> int");

  // gptq
  ops.def("gptq_gemm(Tensor a, Tensor b_q_weight, Tensor b_gptq_qzeros, Tensor b_gptq_scales, Tensor b_g_idx, bool use_exllama, bool use_v2_format, int bit) -> Tensor");
  ops.def("gptq_shuffle(Tensor! q_weight, Tensor q_perm, int bit) -> ()");

  // CUDA-only families: their schemas exist in every build, so calling one on CPU tensors (or in
  // a cpu or HIP build) is the dispatcher's clear "no kernel" error, not an unknown op.
  // cutlass w8a8
  ops.def("cutlass_scaled_mm(Tensor! out, Tensor a, Tensor b, Tensor a_scales, Tensor b_scales, Tensor? bias) -> ()");
  ops.def("cutlass_scaled_mm_azp(Tensor! out, Tensor a, Tensor b, Tensor a_scales, Tensor b_scales, Tensor azp_adj, Tensor? azp, Tensor? bias) -> ()");
  ops.def("cutlass_scaled_mm_supports_fp8(int cuda_device_capability) -> bool");
  ops.def("cutlass_scaled_mm_supports_block_fp8(int cuda_device_capability) -> bool");
  ops.def("cutlass_scaled_mm_supports_fp4(int cuda_device_capability) -> bool");
  // fp4
  ops.def("scaled_fp4_quant(Tensor input, Tensor input_scale, bool is_sf_swizzled_layout) -> (Tensor, Tensor)");
  ops.def("scaled_fp4_quant.out(Tensor input, Tensor input_scale, bool is_sf_swizzled_layout, *, Tensor(a!) output, Tensor(b!) output_scale) -> ()");
  // awq
  ops.def("awq_gemm(Tensor _in_feats, Tensor _kernel, Tensor _scaling_factors, Tensor _zeros, SymInt split_k_iters) -> Tensor");
  ops.def("awq_dequantize(Tensor _kernel, Tensor _scaling_factors, Tensor _zeros, SymInt split_k_iters, int thx, int thy) -> Tensor");
  // permute_cols
  ops.def("permute_cols(Tensor A, Tensor perm) -> Tensor");
}

// One line per op: the same entry points serve every backend, templated on it.
#define VLLM_OPS_IMPL_ACTIVATION(m, Backend)                                                  \
  m.impl("silu_and_mul", TORCH_BOX(&vllm_ops::ActivationOps<Backend>::silu_and_mul));       \
  m.impl("mul_and_silu", TORCH_BOX(&vllm_ops::ActivationOps<Backend>::mul_and_silu));       \
  m.impl("silu_and_mul_with_clamp",                                                         \
         TORCH_BOX(&vllm_ops::ActivationOps<Backend>::silu_and_mul_with_clamp));            \
  m.impl("gelu_and_mul", TORCH_BOX(&vllm_ops::ActivationOps<Backend>::gelu_and_mul));       \
  m.impl("gelu_tanh_and_mul", TORCH_BOX(&vllm_ops::ActivationOps<Backend>::gelu_tanh_and_mul)); \
  m.impl("fatrelu_and_mul", TORCH_BOX(&vllm_ops::ActivationOps<Backend>::fatrelu_and_mul)); \
  m.impl("swigluoai_and_mul", TORCH_BOX(&vllm_ops::ActivationOps<Backend>::swigluoai_and_mul)); \
  m.impl("gelu_new", TORCH_BOX(&vllm_ops::ActivationOps<Backend>::gelu_new));               \
  m.impl("gelu_fast", TORCH_BOX(&vllm_ops::ActivationOps<Backend>::gelu_fast));             \
  m.impl("gelu_quick", TORCH_BOX(&vllm_ops::ActivationOps<Backend>::gelu_quick))

#define VLLM_OPS_IMPL_W8A8_QUANT(m, Backend)                                                        \
  m.impl("static_scaled_int8_quant", TORCH_BOX(&vllm_ops::QuantOps<Backend>::static_scaled_int8_quant));   \
  m.impl("dynamic_scaled_int8_quant", TORCH_BOX(&vllm_ops::QuantOps<Backend>::dynamic_scaled_int8_quant)); \
  m.impl("static_scaled_fp8_quant", TORCH_BOX(&vllm_ops::QuantOps<Backend>::static_scaled_fp8_quant));     \
  m.impl("dynamic_scaled_fp8_quant", TORCH_BOX(&vllm_ops::QuantOps<Backend>::dynamic_scaled_fp8_quant));   \
  m.impl("dynamic_per_token_scaled_fp8_quant",                                                      \
         TORCH_BOX(&vllm_ops::QuantOps<Backend>::dynamic_per_token_scaled_fp8_quant))

#define VLLM_OPS_IMPL_GGUF(m, Backend)                                                         \
  m.impl("ggml_dequantize", TORCH_BOX(&vllm_ops::GgufOps<Backend>::ggml_dequantize));         \
  m.impl("ggml_mul_mat_vec_a8", TORCH_BOX(&vllm_ops::GgufOps<Backend>::ggml_mul_mat_vec_a8)); \
  m.impl("ggml_mul_mat_a8", TORCH_BOX(&vllm_ops::GgufOps<Backend>::ggml_mul_mat_a8));         \
  m.impl("ggml_moe_a8", TORCH_BOX(&vllm_ops::GgufOps<Backend>::ggml_moe_a8));                 \
  m.impl("ggml_moe_a8_vec", TORCH_BOX(&vllm_ops::GgufOps<Backend>::ggml_moe_a8_vec))

#define VLLM_OPS_IMPL_GPTQ(m, Backend)                                               \
  m.impl("gptq_gemm", TORCH_BOX(&vllm_ops::GptqOps<Backend>::gptq_gemm));           \
  m.impl("gptq_shuffle", TORCH_BOX(&vllm_ops::GptqOps<Backend>::gptq_shuffle))

STABLE_TORCH_LIBRARY_IMPL(VLLM_OPS_NAMESPACE, CPU, ops) {
  VLLM_OPS_IMPL_ACTIVATION(ops, vllm_ops::CpuBackend);
  VLLM_OPS_IMPL_W8A8_QUANT(ops, vllm_ops::CpuBackend);
  VLLM_OPS_IMPL_GGUF(ops, vllm_ops::CpuBackend);
  VLLM_OPS_IMPL_GPTQ(ops, vllm_ops::CpuBackend);
}

// Ops without tensor arguments dispatch on no device: one implementation for every backend. The
// scaled_mm capability queries are among them: every build answers them, for what it compiled.
STABLE_TORCH_LIBRARY_IMPL(VLLM_OPS_NAMESPACE, CompositeExplicitAutograd, ops) {
  ops.impl("ggml_moe_get_block_size", TORCH_BOX(&vllm_ops::ggml_moe_get_block_size));
  ops.impl("ggml_dequantize", TORCH_BOX(&vllm_ops::ggml_dequantize_without_kernel));  // backend kernels win
  ops.impl("cutlass_scaled_mm_supports_fp8", TORCH_BOX(&vllm_ops::scaled_mm_supports_fp8));
  ops.impl("cutlass_scaled_mm_supports_block_fp8", TORCH_BOX(&vllm_ops::scaled_mm_supports_block_fp8));
  ops.impl("cutlass_scaled_mm_supports_fp4", TORCH_BOX(&vllm_ops::scaled_mm_supports_fp4));
}

#if defined(USE_CUDA) || defined(USE_ROCM)
// ROCm torch dispatches HIP tensors under the CUDA key.
STABLE_TORCH_LIBRARY_IMPL(VLLM_OPS_NAMESPACE, CUDA, ops) {
  VLLM_OPS_IMPL_ACTIVATION(ops, vllm_ops::GpuBackend);
  VLLM_OPS_IMPL_W8A8_QUANT(ops, vllm_ops::GpuBackend);
  VLLM_OPS_IMPL_GGUF(ops, vllm_ops::GpuBackend);
  VLLM_OPS_IMPL_GPTQ(ops, vllm_ops::GpuBackend);
}
#endif

#if defined(USE_CUDA) && !defined(USE_ROCM)
// CUDA-only families (CUTLASS W8A8, FP4, AWQ, permute_cols): their CUDA implementations are
// registered here and nowhere else, so neither a cpu nor a HIP build sees them (`#ifndef
// USE_ROCM` alone is true for cpu too). Their sources are listed in VLLM_OPS_CUDA_ONLY_SOURCES
// (cmake/sources.cmake, from env.yaml's families). The CUTLASS kernels exist only when the
// build's arch list has 9.0a (cmake/cuda.cmake then defines VLLM_OPS_HAS_CUTLASS_W8A8).
STABLE_TORCH_LIBRARY_IMPL(VLLM_OPS_NAMESPACE, CUDA, ops) {
  ops.impl("awq_gemm", TORCH_BOX(&vllm_ops::awq_gemm));
  ops.impl("awq_dequantize", TORCH_BOX(&vllm_ops::awq_dequantize));
  ops.impl("permute_cols", TORCH_BOX(&vllm_ops::permute_cols));
  ops.impl("scaled_fp4_quant", TORCH_BOX(&vllm_ops::scaled_fp4_quant));
  ops.impl("scaled_fp4_quant.out", TORCH_BOX(&vllm_ops::scaled_fp4_quant_out));
#ifdef VLLM_OPS_HAS_CUTLASS_W8A8
  ops.impl("cutlass_scaled_mm", TORCH_BOX(&vllm_ops::cutlass_scaled_mm));
  ops.impl("cutlass_scaled_mm_azp", TORCH_BOX(&vllm_ops::cutlass_scaled_mm_azp));
#endif
}
#endif
