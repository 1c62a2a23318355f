#pragma once
// The math of every activation op, written once for the CPU loops, the CUDA kernels and the
// HIP kernels. Activations are evaluated in float; storage dtypes are only rounded where the
// reference semantics (vLLM 0.22.0's kernels) round, so all backends agree to the last ulp
// wherever their libm agrees.

#include <cmath>
#include <cstdint>

#include "../../host_device.h"
#include "storage_arith.h"

namespace vllm_ops::activation {

// ---- scalar activations, float in, float out -------------------------------------------

struct Silu {
  VLLM_OPS_HOST_DEVICE float operator()(float x) const { return x / (1.0f + expf(-x)); }
};

// Exact GELU: x * Phi(x) with the Gaussian CDF written through erf.
struct GeluErf {
  VLLM_OPS_HOST_DEVICE float operator()(float x) const {
    constexpr float kInvSqrt2 = 0.70710678118654752440f;
    return 0.5f * x * (1.0f + erff(x * kInvSqrt2));
  }
};

// GELU with the tanh approximation: tanh(sqrt(2/pi) * (x + 0.044715 x^3)). The operation
// order is part of the semantics: in the far negative tail 1 + tanh cancels, and a different
// association moves the result by thousands of float ulps.
struct GeluTanh {
  VLLM_OPS_HOST_DEVICE float operator()(float x) const {
    constexpr float kSqrt2OverPi = 0.79788456080286535588f;
    constexpr float kCubic = 0.044715f;
    const float x_cube = x * x * x;
    return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + kCubic * x_cube)));
  }
};

struct Tanh {
  VLLM_OPS_HOST_DEVICE float operator()(float x) const { return tanhf(x); }
};

// x * sigmoid(1.702 x).
struct GeluQuick {
  VLLM_OPS_HOST_DEVICE float operator()(float x) const { return x / (1.0f + expf(-1.702f * x)); }
};

// Thresholded ReLU: keeps x only above the threshold.
struct FatRelu {
  float threshold;
  VLLM_OPS_HOST_DEVICE float operator()(float x) const { return x > threshold ? x : 0.0f; }
};

// ---- how an op reads its input row ---------------------------------------------------------

enum class RowLayout {
  kUnary,              // out[i] = f(in[i]); input row as wide as the output row
  kGateUpHalves,       // gate = in[i], up = in[d + i]; input row 2d wide
  kGateUpInterleaved,  // gate = in[2i], up = in[2i + 1]; input row 2d wide
};

// ---- ops -------------------------------------------------------------------------------------

// act(gate) * up (kActOnFirst) or gate * act(up). The activation is rounded to the storage
// dtype before the product, and the product of two storage values is exact in float, so the
// result is the correctly rounded storage-dtype product. (A packed-pair form of this product
// measured no faster on the H100: benchmarks/NOTES.md.)
template <class Act, bool kActOnFirst>
struct ActAndMul {
  static constexpr RowLayout kLayout = RowLayout::kGateUpHalves;
  Act act;

  template <typename T>
  VLLM_OPS_HOST_DEVICE T operator()(T first, T second) const {
    if constexpr (kActOnFirst) {
      return round_to<T>(static_cast<float>(round_to<T>(act(static_cast<float>(first)))) *
                         static_cast<float>(second));
    } else {
      return round_to<T>(static_cast<float>(first) *
                         static_cast<float>(round_to<T>(act(static_cast<float>(second)))));
    }
  }
};

// min(x, limit) and clamp(x, -limit, limit) as vLLM computes them (fminf, fmaxf), except that a
// NaN x stays NaN (fminf would return the limit: a NaN input came out finite). The host rejects
// a NaN limit, which fminf would ignore.
VLLM_OPS_HOST_DEVICE float clamp_above(float x, float limit) { return x != x ? x : fminf(x, limit); }
VLLM_OPS_HOST_DEVICE float clamp_both(float x, float limit) { return x != x ? x : fminf(fmaxf(x, -limit), limit); }

// silu(min(gate, limit)) * clamp(up, -limit, limit), rounding like ActAndMul: the activation
// is rounded to the storage dtype before the product.
struct SiluAndMulWithClamp {
  static constexpr RowLayout kLayout = RowLayout::kGateUpHalves;
  float limit;

  template <typename T>
  VLLM_OPS_HOST_DEVICE T operator()(T gate, T up) const {
    const float g = clamp_above(static_cast<float>(gate), limit);
    const float u = clamp_both(static_cast<float>(up), limit);
    return round_to<T>(in_storage<T>(Silu{}(g)) * u);
  }
};

// The gpt-oss SwiGLU: gate and up interleaved, gate clamped above, up clamped both ways,
// out = (up + 1) * gate * sigmoid(alpha * gate), rounded once.
struct SwigluOAIAndMul {
  static constexpr RowLayout kLayout = RowLayout::kGateUpInterleaved;
  float alpha;
  float limit;

  template <typename T>
  VLLM_OPS_HOST_DEVICE T operator()(T gate, T up) const {
    const float g = clamp_above(static_cast<float>(gate), limit);
    const float u = clamp_both(static_cast<float>(up), limit);
    // Association matters to the float ulp: (up + 1) * gate first, then one division by
    // 1 + exp(-alpha * gate), as vLLM's kernels evaluate it (measured on H100).
    return round_to<T>((u + 1.0f) * g / (1.0f + expf(-g * alpha)));
  }
};

template <class Act>
struct Elementwise {
  static constexpr RowLayout kLayout = RowLayout::kUnary;
  Act act;

  template <typename T>
  VLLM_OPS_HOST_DEVICE T operator()(T x) const {
    return round_to<T>(act(static_cast<float>(x)));
  }
};

// The "new" GELU of GPT-2 style models: the tanh form with rounded constants, where the cube,
// the polynomial and the final product are storage-dtype arithmetic (so fp16/bf16 results
// saturate to exactly 0 in the negative tail, as the reference kernels do).
struct GeluNew {
  static constexpr RowLayout kLayout = RowLayout::kUnary;
  static constexpr bool kStorageArithmetic = true;

  template <class S>
  VLLM_OPS_HOST_DEVICE typename S::V eval(typename S::V x) const {
    const auto x_cube = S::mul(S::mul(x, x), x);
    const auto poly = S::add(x, S::scale(0.044715f, x_cube));
    const auto t = S::apply(Tanh{}, S::scale(0.79788456f, poly));
    return S::mul(S::mul(S::constant(0.5f), x), S::add(S::constant(1.0f), t));
  }

  template <typename T>
  VLLM_OPS_HOST_DEVICE T operator()(T x) const {
    using S = ScalarStorage<T>;
    return S::store(eval<S>(S::load(x)));
  }
};

// The "fast" GELU: the tanh form factored as 0.79788456 x * (1 + 0.044715 x * x), with the same
// storage-dtype steps as GeluNew.
struct GeluFast {
  static constexpr RowLayout kLayout = RowLayout::kUnary;
  static constexpr bool kStorageArithmetic = true;

  template <class S>
  VLLM_OPS_HOST_DEVICE typename S::V eval(typename S::V x) const {
    const auto scaled = S::scale(0.79788456f, x);
    const auto poly = S::add(S::constant(1.0f), S::mul(S::scale(0.044715f, x), x));
    const auto t = S::apply(Tanh{}, S::mul(scaled, poly));
    return S::mul(S::mul(S::constant(0.5f), x), S::add(S::constant(1.0f), t));
  }

  template <typename T>
  VLLM_OPS_HOST_DEVICE T operator()(T x) const {
    using S = ScalarStorage<T>;
    return S::store(eval<S>(S::load(x)));
  }
};

// Output element i of one row, read through the op's layout. `d` is the output row width.
template <class Op, typename T>
VLLM_OPS_HOST_DEVICE T apply_at(const Op& op, const T* in_row, int64_t d, int64_t i) {
  if constexpr (Op::kLayout == RowLayout::kUnary) {
    return op(in_row[i]);
  } else if constexpr (Op::kLayout == RowLayout::kGateUpHalves) {
    return op(in_row[i], in_row[d + i]);
  } else {
    return op(in_row[2 * i], in_row[2 * i + 1]);
  }
}

// Input row width for an output row of width d.
template <class Op>
VLLM_OPS_HOST_DEVICE constexpr int64_t input_row_width(int64_t d) {
  return Op::kLayout == RowLayout::kUnary ? d : 2 * d;
}

}  // namespace vllm_ops::activation
