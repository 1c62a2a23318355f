#pragma once
// The W8A8 quantization ops: argument checks, scale-layout resolution and dtype dispatch, shared
// by every backend. A backend's translation unit includes this, specializes QuantLauncher and
// instantiates QuantOps. The math lives in quant_math.h.
//
// Rows: input.numel() / input.size(-1) rows of input.size(-1) values. The int8 ops take
// contiguous tensors (as vLLM). The fp8 ops, like vLLM's, also take rows with a stride (a column
// slice) and an output with more rows than the input (padding for later GEMMs; only the input's
// rows are written); the last dimension must be contiguous.

#include <optional>
#include <sstream>
#include <vector>

#include "../../../dispatch_utils.h"
#include "../../ops.h"
#include "../../tensor_checks.h"
#include "quant_math.h"

namespace vllm_ops {

struct RowLayout2D {
  int64_t rows, cols, in_stride, out_stride;
};

// The order a backend may visit an input in: kTailFirst when that input was just read from start
// to end, so a backend with a cache can take what is still cached first. Results do not depend
// on it.
enum class RowOrder { kAny, kTailFirst };

// Each backend provides, for T in {float, Half, BFloat16}:
//   template <typename T, RowOrder, class Plan> static void rows(const Plan&, Plan::Out* out,
//                                                      const T* in, RowLayout2D, const Tensor& input);
//   template <typename T, class Fp8> static void tensor_scale(float* scale, const T* in, RowLayout2D,
//                                                           const Tensor& input);
// `rows` computes each row's statistics (if the plan has any), stores the plan's per-row outputs
// and writes the quantized row. `tensor_scale` writes quant::fp8_tensor_scale<Fp8> of the
// absmax over all rows (0 for no rows) to *scale.
template <class Backend>
struct QuantLauncher;

namespace quant_checks {

using torch::headeronly::ScalarType;

// Row stride of a tensor whose leading dims collapse into rows; -1 if they do not.
inline int64_t row_stride(const Tensor& t) {
  if (t.dim() < 2) return t.dim() == 1 ? t.size(0) : 1;
  for (int64_t i = 0; i + 2 < t.dim(); ++i)
    if (t.size(i) > 1 && t.stride(i) != t.size(i + 1) * t.stride(i + 1)) return -1;
  return t.stride(-2);
}

// A scale, zero point or bound: its dtype, and on input's device.
inline void check_side_tensor(const char* op, const char* arg, const Tensor& t, ScalarType dtype,
                              const Tensor& input) {
  check_dtype_in(op, arg, t, {dtype});
  check_same_device(op, arg, t, "input", input);
}

// A scale or zero point the op writes: also apart from input and the result.
inline void check_written_side(const char* op, const char* arg, const Tensor& t, ScalarType dtype, const Tensor& input,
                               const Tensor& out) {
  check_side_tensor(op, arg, t, dtype, input);
  check_no_overlap(op, arg, t, "input", input);
  check_no_overlap(op, arg, t, "result", out);
}

inline void check_numel(const char* op, const char* arg, const Tensor& t, int64_t expected,
                        const char* what) {
  TORCH_UTILS_CHECK(t.numel() == expected, op, ": ", arg, " must have ", expected, " element",
                    expected == 1 ? "" : "s", " (", what, "), got shape ", shape_str(t));
}

// Common checks; returns the row layout of input -> out (named `result` in every schema).
inline RowLayout2D check_rows(const char* op, const Tensor& out, const Tensor& input,
                              std::initializer_list<ScalarType> out_dtypes, bool allow_strided_rows) {
  constexpr const char* out_arg = "result";
  check_dtype_in(op, "input", input, {ScalarType::Float, ScalarType::Half, ScalarType::BFloat16});
  check_dtype_in(op, out_arg, out, out_dtypes);
  check_same_device(op, out_arg, out, "input", input);
  TORCH_UTILS_CHECK(input.dim() >= 1, op, ": input must have at least 1 dimension, got 0");
  check_no_overlap(op, out_arg, out, "input", input);
  RowLayout2D l{0, input.size(-1), 0, 0};
  l.rows = l.cols == 0 ? 0 : input.numel() / l.cols;
  if (!allow_strided_rows) {
    check_contiguous(op, "input", input);
    check_contiguous(op, out_arg, out);
    TORCH_UTILS_CHECK(out.dim() == input.dim() && out.numel() == input.numel() &&
                          out.size(-1) == input.size(-1),
                      op, ": ", out_arg, " must have the shape of input (", shape_str(input), "), got ",
                      shape_str(out));
    l.in_stride = l.out_stride = l.cols;
    return l;
  }
  TORCH_UTILS_CHECK(input.dim() < 1 || input.size(-1) <= 1 || input.stride(-1) == 1, op,
                    ": input must be contiguous in its last dimension, got stride ", input.stride(-1));
  TORCH_UTILS_CHECK(out.dim() < 1 || out.size(-1) <= 1 || out.stride(-1) == 1, op, ": ", out_arg,
                    " must be contiguous in its last dimension, got stride ", out.stride(-1));
  l.in_stride = row_stride(input);
  TORCH_UTILS_CHECK(l.in_stride >= 0, op,
                    ": input must have rows of one stride (leading dims that collapse), got shape ",
                    shape_str(input));
  l.out_stride = row_stride(out);
  const int64_t out_rows = out.dim() == 0 || out.size(-1) == 0 ? 0 : out.numel() / out.size(-1);
  TORCH_UTILS_CHECK(out.dim() >= 1 && out.size(-1) == l.cols && out_rows >= l.rows && l.out_stride >= 0,
                    op, ": ", out_arg, " must have input's last dimension (", l.cols,
                    ") and at least input's ", l.rows, " rows, got shape ", shape_str(out));
  // Rows of one stride, each written by one thread group: a stride below the row width (an
  // expanded or as_strided view) would have rows overwrite each other.
  TORCH_UTILS_CHECK(out_rows <= 1 || l.out_stride >= l.cols, op, ": ", out_arg,
                    " must not have overlapping rows (row stride at least ", l.cols, "), got row stride ",
                    l.out_stride);
  return l;
}

// The int8 ops: contiguous input and an int8 result of its shape.
inline RowLayout2D check_int8_rows(const char* op, const Tensor& out, const Tensor& input) {
  return check_rows(op, out, input, {ScalarType::Char}, false);
}

// The fp8 ops: either fp8 flavour; rows may have a stride and the result may have extra rows.
inline RowLayout2D check_fp8_rows(const char* op, const Tensor& out, const Tensor& input) {
  return check_rows(op, out, input, {ScalarType::Float8_e4m3fn, ScalarType::Float8_e4m3fnuz}, true);
}

inline std::string dims_str(int64_t a, int64_t b) {
  std::ostringstream s;
  s << "[" << a << ", " << b << "]";
  return s.str();
}

}  // namespace quant_checks

// Runs `plan` over the rows of input into out.
template <class Backend, typename T, RowOrder kOrder = RowOrder::kAny, class Plan>
void quantize_rows(const Plan& plan, Tensor& out, const Tensor& input, const RowLayout2D& l) {
  if (l.rows == 0 || l.cols == 0) return;
  QuantLauncher<Backend>::template rows<T, kOrder>(plan, static_cast<typename Plan::Out*>(out.mutable_data_ptr()),
                                                   static_cast<const T*>(input.const_data_ptr()), l, input);
}

// Calls body(scalar_t{}) for the input dtype.
template <class Body>
void dispatch_input(const char* op, const Tensor& input, Body body) {
  VLLM_OPS_DISPATCH_FLOATING_TYPES(input.scalar_type(), op, [&] { body(scalar_t{}); });
}

// Calls body(Fp8{}, scalar_t{}) for the output fp8 flavour (chosen by out's dtype on every
// backend) and the input dtype.
template <class Body>
void dispatch_fp8(const char* op, const Tensor& out, const Tensor& input, Body body) {
  auto with = [&](auto fp8) { dispatch_input(op, input, [&](auto in) { body(fp8, in); }); };
  if (out.scalar_type() == torch::headeronly::ScalarType::Float8_e4m3fnuz) {
    with(quant::Fp8E4m3fnuz{});
  } else {
    with(quant::Fp8E4m3fn{});
  }
}

template <class B>
void QuantOps<B>::static_scaled_int8_quant(Tensor& out, const Tensor& input, const Tensor& scale,
                                           const std::optional<Tensor>& azp) {
  using namespace quant_checks;
  constexpr const char* op = "static_scaled_int8_quant";
  const RowLayout2D l = check_int8_rows(op, out, input);
  check_side_tensor(op, "scale", scale, ScalarType::Float, input);
  check_numel(op, "scale", scale, 1, "one per-tensor scale");
  if (azp) {
    check_side_tensor(op, "azp", *azp, ScalarType::Int, input);
    check_numel(op, "azp", *azp, 1, "one per-tensor zero point");
  }
  const float* s = static_cast<const float*>(scale.const_data_ptr());
  if (azp) {
    const int32_t* z = static_cast<const int32_t*>(azp->const_data_ptr());
    dispatch_input(op, input, [&](auto in) {
      quantize_rows<B, decltype(in)>(quant::StaticInt8AzpPlan{s, z}, out, input, l);
    });
  } else {
    dispatch_input(op, input, [&](auto in) { quantize_rows<B, decltype(in)>(quant::StaticInt8Plan{s}, out, input, l); });
  }
}

template <class B>
void QuantOps<B>::dynamic_scaled_int8_quant(Tensor& out, const Tensor& input, Tensor& scale,
                                            const std::optional<Tensor>& azp) {
  using namespace quant_checks;
  constexpr const char* op = "dynamic_scaled_int8_quant";
  const RowLayout2D l = check_int8_rows(op, out, input);
  check_written_side(op, "scale", scale, ScalarType::Float, input, out);
  check_contiguous(op, "scale", scale);
  check_numel(op, "scale", scale, l.rows, "one per row of input");
  float* s = static_cast<float*>(scale.mutable_data_ptr());
  if (azp) {
    check_written_side(op, "azp", *azp, ScalarType::Int, input, out);
    check_contiguous(op, "azp", *azp);
    check_numel(op, "azp", *azp, l.rows, "one per row of input");
    int32_t* z = static_cast<int32_t*>(const_cast<Tensor&>(*azp).mutable_data_ptr());
    dispatch_input(op, input, [&](auto in) {
      quantize_rows<B, decltype(in)>(quant::DynamicInt8AzpPlan{s, z}, out, input, l);
    });
  } else {
    dispatch_input(op, input, [&](auto in) { quantize_rows<B, decltype(in)>(quant::DynamicInt8Plan{s}, out, input, l); });
  }
}

namespace quant_checks {

// The scale layout of static_scaled_fp8_quant: one scale per (rows x cols) group, at
// scale[(r / rows) * stride_r + (c / cols) * stride_c].
struct GroupLayout {
  int64_t rows, cols, stride_r, stride_c;
};

inline GroupLayout resolve_groups(const char* op, const Tensor& scale, const RowLayout2D& l,
                                  const std::optional<std::vector<int64_t>>& group_shape) {
  const int64_t m = l.rows, n = l.cols;
  // group_shape's form is checked whatever the scale (a per-tensor scale used to let any list pass).
  if (group_shape) {
    TORCH_UTILS_CHECK(group_shape->size() == 2, op, ": group_shape must have 2 entries (rows, cols), got ",
                      group_shape->size());
    for (const int64_t g : *group_shape)
      TORCH_UTILS_CHECK(g == -1 || g > 0, op, ": group_shape entries must be positive or -1 (whole extent), got ",
                        dims_str((*group_shape)[0], (*group_shape)[1]));
  }
  // Per tensor; and an empty input, which has nothing to scale (any group shape fits it).
  if (scale.numel() == 1 || m == 0 || n == 0) return {m > 0 ? m : 1, n > 0 ? n : 1, 0, 0};
  int64_t gm = 0, gn = 0;
  if (group_shape) {
    gm = (*group_shape)[0] == -1 ? m : (*group_shape)[0];
    gn = (*group_shape)[1] == -1 ? n : (*group_shape)[1];
    TORCH_UTILS_CHECK(m % gm == 0 && n % gn == 0, op, ": group_shape ", dims_str(gm, gn),
                      " must divide the input's ", dims_str(m, n), " rows and columns");
  }
  if (scale.dim() == 1) {
    TORCH_UTILS_CHECK(group_shape.has_value(), op,
                      ": a 1-D scale needs group_shape to say its axis ((-1, 1) per column, (1, -1) per "
                      "row), got none for scale of shape ", shape_str(scale));
    const int64_t sm = m / gm, sn = n / gn;
    TORCH_UTILS_CHECK(sm == 1 || sn == 1, op, ": a 1-D scale needs group_shape with one whole axis, got ",
                      dims_str(gm, gn), "; use a 2-D scale for 2-D groups");
    TORCH_UTILS_CHECK(scale.numel() == sm * sn, op, ": scale must have ", sm * sn,
                      " elements for group_shape ", dims_str(gm, gn), " over input ", dims_str(m, n),
                      ", got shape ", shape_str(scale));
    return sm == 1 ? GroupLayout{gm, gn, 0, scale.stride(0)} : GroupLayout{gm, gn, scale.stride(0), 0};
  }
  TORCH_UTILS_CHECK(scale.dim() == 2, op, ": scale must be 0-D, 1-D or 2-D, got shape ", shape_str(scale));
  const int64_t s0 = scale.size(0), s1 = scale.size(1);
  TORCH_UTILS_CHECK(s0 > 0 && s1 > 0 && m % s0 == 0 && n % s1 == 0, op, ": scale of shape ",
                    shape_str(scale), " must divide the input's ", dims_str(m, n), " rows and columns");
  if (group_shape) {
    TORCH_UTILS_CHECK(gm == m / s0 && gn == n / s1, op, ": group_shape ", dims_str(gm, gn),
                      " must match the groups of scale of shape ", shape_str(scale), " over input ",
                      dims_str(m, n), " (", dims_str(m / s0, n / s1), ")");
  }
  return {m / s0, n / s1, scale.stride(0), scale.stride(1)};
}

}  // namespace quant_checks

template <class B>
void QuantOps<B>::static_scaled_fp8_quant(Tensor& out, const Tensor& input, const Tensor& scale,
                                          const std::optional<std::vector<int64_t>>& group_shape) {
  using namespace quant_checks;
  constexpr const char* op = "static_scaled_fp8_quant";
  const RowLayout2D l = check_fp8_rows(op, out, input);
  check_side_tensor(op, "scale", scale, ScalarType::Float, input);
  const GroupLayout g = resolve_groups(op, scale, l, group_shape);
  const float* s = static_cast<const float*>(scale.const_data_ptr());
  if (g.stride_r == 0 && g.stride_c == 0) {
    dispatch_fp8(op, out, input, [&](auto fp8, auto in) {
      quantize_rows<B, decltype(in)>(quant::StaticFp8Plan<decltype(fp8)>{s}, out, input, l);
    });
  } else {
    dispatch_fp8(op, out, input, [&](auto fp8, auto in) {
      const quant::GroupFp8Plan<decltype(fp8)> plan{s, g.rows, g.cols, g.stride_r, g.stride_c};
      quantize_rows<B, decltype(in)>(plan, out, input, l);
    });
  }
}

template <class B>
void QuantOps<B>::dynamic_scaled_fp8_quant(Tensor& out, const Tensor& input, Tensor& scale) {
  using namespace quant_checks;
  constexpr const char* op = "dynamic_scaled_fp8_quant";
  const RowLayout2D l = check_fp8_rows(op, out, input);
  check_written_side(op, "scale", scale, ScalarType::Float, input, out);
  // As vLLM: any buffer of at least one element (its tests pass [tokens, 1]); the per-tensor
  // scale goes to element 0 and the rest is left as it was.
  TORCH_UTILS_CHECK(scale.numel() >= 1, op, ": scale must have at least 1 element (the per-tensor scale is "
                    "written to element 0), got shape ", shape_str(scale));
  float* s = static_cast<float*>(scale.mutable_data_ptr());
  dispatch_fp8(op, out, input, [&](auto fp8, auto in) {
    using T = decltype(in);
    // An empty input has absmax 0, hence scale 0.
    QuantLauncher<B>::template tensor_scale<T, decltype(fp8)>(s, static_cast<const T*>(input.const_data_ptr()), l,
                                                              input);
    quantize_rows<B, T, RowOrder::kTailFirst>(quant::StaticFp8Plan<decltype(fp8)>{s}, out, input, l);
  });
}

template <class B>
void QuantOps<B>::dynamic_per_token_scaled_fp8_quant(Tensor& out, const Tensor& input, Tensor& scale,
                                                     const std::optional<Tensor>& scale_ub) {
  using namespace quant_checks;
  constexpr const char* op = "dynamic_per_token_scaled_fp8_quant";
  const RowLayout2D l = check_fp8_rows(op, out, input);
  check_written_side(op, "scale", scale, ScalarType::Float, input, out);
  check_contiguous(op, "scale", scale);
  TORCH_UTILS_CHECK(scale.numel() >= l.rows, op, ": scale must have at least one element per row of input (",
                    l.rows, "), got shape ", shape_str(scale));
  const float* ub = nullptr;
  if (scale_ub) {
    check_side_tensor(op, "scale_ub", *scale_ub, ScalarType::Float, input);
    check_numel(op, "scale_ub", *scale_ub, 1, "one upper bound");
    ub = static_cast<const float*>(scale_ub->const_data_ptr());
  }
  float* s = static_cast<float*>(scale.mutable_data_ptr());
  dispatch_fp8(op, out, input, [&](auto fp8, auto in) {
    quantize_rows<B, decltype(in)>(quant::PerTokenFp8Plan<decltype(fp8)>{s, ub}, out, input, l);
  });
}

}  // namespace vllm_ops
