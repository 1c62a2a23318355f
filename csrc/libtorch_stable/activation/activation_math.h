#pragma once
// The math of every activation op, written once for the CPU loops, the CUDA kernels and the
// HIP kernels. Activations are evaluated in float; storage dtypes are only rounded where the
// reference semantics (vLLM 0.22.0's kernels) round, so all backends agree to the last ulp
// wherever their libm agrees.

#include <cmath>
#include <cstdint>

#include "../../host_device.h"

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

// GELU with the tanh approximation: tanh(sqrt(2/pi) * (x + 0.044715 x^3)).
struct GeluTanh {
  VLLM_OPS_HOST_DEVICE float operator()(float x) const {
    constexpr float kSqrt2OverPi = 0.79788456080286535588f;
    constexpr float kCubic = 0.044715f;
    return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + kCubic * x * x * x)));
  }
};

// The "new" GELU of GPT-2 style models: the same tanh form with a rounded constant.
struct GeluNew {
  VLLM_OPS_HOST_DEVICE float operator()(float x) const {
    return 0.5f * x * (1.0f + tanhf(0.79788456f * (x + 0.044715f * x * x * x)));
  }
};

// The "fast" GELU: the tanh form factored as x * (1 + 0.044715 x^2).
struct GeluFast {
  VLLM_OPS_HOST_DEVICE float operator()(float x) const {
    return 0.5f * x * (1.0f + tanhf(0.79788456f * x * (1.0f + 0.044715f * x * x)));
  }
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

template <typename T>
VLLM_OPS_HOST_DEVICE T round_to(float x) {
  return static_cast<T>(x);
}

// ---- ops -------------------------------------------------------------------------------------

// act(gate) * up (kActOnFirst) or gate * act(up). The activation is rounded to the storage
// dtype before the product, and the product of two storage values is exact in float, so the
// result is the correctly rounded storage-dtype product.
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

// silu(min(gate, limit)) * clamp(up, -limit, limit), rounded once.
struct SiluAndMulWithClamp {
  static constexpr RowLayout kLayout = RowLayout::kGateUpHalves;
  float limit;

  template <typename T>
  VLLM_OPS_HOST_DEVICE T operator()(T gate, T up) const {
    const float g = fminf(static_cast<float>(gate), limit);
    const float u = fminf(fmaxf(static_cast<float>(up), -limit), limit);
    return round_to<T>(Silu{}(g) * u);
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
    const float g = fminf(static_cast<float>(gate), limit);
    const float u = fminf(fmaxf(static_cast<float>(up), -limit), limit);
    const float glu = g / (1.0f + expf(-g * alpha));
    return round_to<T>((u + 1.0f) * glu);
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
