#pragma once
// The math of the W8A8 activation quantizers, written once for the CPU loops, the CUDA kernels
// and the HIP kernels. The float operation order is part of the semantics: it is vLLM 0.22.0's,
// measured on an H100 (an IEEE division and a multiply by a rounded reciprocal differ in the
// last bit, which moves a rounding boundary):
//   static int8          q = rn_sat8(x / s)
//   static int8 + azp    q = sat8(rn_sat32(x * (1/s)) + azp)
//   dynamic int8         s = absmax / 127,   q = rn_sat8(x * (127 / absmax))   (0 if absmax == 0)
//   dynamic int8 + azp   s = (max - min) / 255,  azp = rn(-128 - min / s),  q as static + azp
//   static fp8           q = fp8(clamp(x * (1/s), +-M))       (per tensor, or per group)
//   dynamic fp8          s = absmax / M over the tensor, then as static fp8
//   per-token fp8        s = max(min(absmax, ub) / M, 1 / (512 M)),  q = fp8(clamp(x / s, +-M))
// with M = 448 for e4m3fn and 224 for e4m3fnuz (vLLM's choice for ROCm, not the type's 240).
//
// Non-finite inputs (finite ones give vLLM's bits; these are our semantics, where vLLM's drift):
//   - the reductions (absmax, min, max) skip NaN and +-inf, so one inf does not make every
//     other element of its row or tensor 0 (vLLM: scale inf, its quotients NaN, then +M or 0);
//   - fp8: a NaN input gives NaN (both formats have one); +-inf saturate to +-M, keeping the sign;
//     a NaN that only the scaling makes (0 * (1 / 0) for an all-zero input, scale 0) gives +M
//     as in vLLM, which dequantizes to 0;
//   - int8 has no NaN: a NaN input gives 0 (with a zero point: the zero point, which
//     dequantizes to 0); +-inf saturate to 127 / -128;
//   - a constant row with a zero point (max == min, vLLM: scale 0 and azp = INT32_MIN) takes
//     azp 0 and scale |c| / 127, so q = +-127 dequantizes to c again (c = 0: scale 0, q 0).

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include <torch/headeronly/util/Float8_e4m3fn.h>
#include <torch/headeronly/util/Float8_e4m3fnuz.h>

#include "../../../host_device.h"

#if defined(__CUDACC__) && !defined(USE_ROCM)
  #include <cuda_fp8.h>
#endif

namespace vllm_ops::quant {

using Fp8E4m3fn = c10::Float8_e4m3fn;
using Fp8E4m3fnuz = c10::Float8_e4m3fnuz;

// ---- conversions -------------------------------------------------------------------------------

// False for NaN (the comparison fails) and for +-inf (above FLT_MAX).
VLLM_OPS_HOST_DEVICE bool is_finite(float x) { return fabsf(x) <= FLT_MAX; }

// Round half to even and saturate to int8; NaN gives 0 (what cvt.rni.sat does).
VLLM_OPS_HOST_DEVICE int8_t float_to_int8_rn(float x) {
#if defined(__CUDA_ARCH__)
  uint32_t r;
  asm("cvt.rni.sat.s8.f32 %0, %1;" : "=r"(r) : "f"(x));
  return static_cast<int8_t>(r);
#else
  if (x != x) return 0;
  return static_cast<int8_t>(fminf(fmaxf(rintf(x), -128.0f), 127.0f));
#endif
}

// Round half to even and saturate to int32; NaN gives 0.
VLLM_OPS_HOST_DEVICE int32_t float_to_int32_rn(float x) {
#if defined(__CUDA_ARCH__)
  int32_t r;
  asm("cvt.rni.sat.s32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
#else
  if (x != x) return 0;
  if (x >= 2147483648.0f) return INT32_MAX;
  if (x <= -2147483648.0f) return INT32_MIN;
  return static_cast<int32_t>(rintf(x));
#endif
}

VLLM_OPS_HOST_DEVICE int8_t int32_to_int8_sat(int32_t x) {
  return static_cast<int8_t>(x < -128 ? -128 : (x > 127 ? 127 : x));
}

// Two's complement wrap, as the GPU adds: a saturated x / s plus a zero point may wrap.
VLLM_OPS_HOST_DEVICE int32_t add_wrapping(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}

template <class Fp8>
struct Fp8Max;
template <>
struct Fp8Max<Fp8E4m3fn> {
  static constexpr float value = 448.0f;
};
template <>
struct Fp8Max<Fp8E4m3fnuz> {
  static constexpr float value = 224.0f;
};

// Clamp to the format's range (NaN -> +M, as fminf/fmaxf order it), then round to nearest even.
// The quantizers call it through fp8_quantize, which keeps a NaN input.
template <class Fp8>
VLLM_OPS_HOST_DEVICE Fp8 float_to_fp8_sat(float x) {
  constexpr float kMax = Fp8Max<Fp8>::value;
  const float clamped = fmaxf(-kMax, fminf(x, kMax));
#if defined(__CUDA_ARCH__) && !defined(USE_ROCM)
  if constexpr (std::is_same_v<Fp8, Fp8E4m3fn>) {
    // Hardware conversion; for values already in range it equals the software one below.
    return Fp8(static_cast<uint8_t>(__nv_cvt_float_to_fp8(clamped, __NV_SATFINITE, __NV_E4M3)),
               Fp8::from_bits());
  }
#endif
  return Fp8(clamped);
}

// The fp8 code of input x, whose scaled value is `scaled`: NaN for a NaN input, else the
// saturated conversion (where a NaN made by the scaling alone becomes +M, as in vLLM).
template <class Fp8>
VLLM_OPS_HOST_DEVICE Fp8 fp8_quantize(float x, float scaled) {
  return x != x ? Fp8(x) : float_to_fp8_sat<Fp8>(scaled);
}

// a / b for non-negative a and positive b; 32-bit division (a third of the 64-bit sequence on
// GPUs) when both fit, as they do for any realistic row.
VLLM_OPS_HOST_DEVICE int64_t quotient(int64_t a, int64_t b) {
  if (((a | b) >> 32) == 0) return static_cast<uint32_t>(a) / static_cast<uint32_t>(b);
  return a / b;
}

// ---- per-row statistics ------------------------------------------------------------------------

enum class RowStats { kNone, kAbsMax, kMinMax };

// absmax in `hi` (from 0), or min in `lo` and max in `hi` (from +-FLT_MAX).
struct Stats {
  float lo, hi;
};

template <RowStats kKind>
VLLM_OPS_HOST_DEVICE Stats stats_identity() {
  return kKind == RowStats::kMinMax ? Stats{FLT_MAX, -FLT_MAX} : Stats{0.0f, 0.0f};
}

// Only finite values count.
template <RowStats kKind>
VLLM_OPS_HOST_DEVICE Stats stats_add(Stats s, float x) {
  if (!is_finite(x)) return s;
  if constexpr (kKind == RowStats::kMinMax) return {fminf(s.lo, x), fmaxf(s.hi, x)};
  return {0.0f, fmaxf(s.hi, fabsf(x))};
}

template <RowStats kKind>
VLLM_OPS_HOST_DEVICE Stats stats_merge(Stats a, Stats b) {
  return {fminf(a.lo, b.lo), fmaxf(a.hi, b.hi)};
}

// ---- quantizers of one element: (value, column) -> output ----------------------------------------

struct Int8DivScale {
  float scale;
  VLLM_OPS_HOST_DEVICE int8_t operator()(float x, int64_t) const { return float_to_int8_rn(x / scale); }
};

struct Int8MulInverse {
  float multiplier;
  VLLM_OPS_HOST_DEVICE int8_t operator()(float x, int64_t) const {
    return float_to_int8_rn(x * multiplier);
  }
};

// A finite x whose quotient saturates int32 wraps with the zero point, as vLLM's does; an
// infinite x saturates int8 with its sign instead (the wrap would flip it).
struct Int8Azp {
  float inv_scale;
  int32_t azp;
  VLLM_OPS_HOST_DEVICE int8_t operator()(float x, int64_t) const {
    if (!is_finite(x) && x == x) return x > 0.0f ? 127 : -128;
    return int32_to_int8_sat(add_wrapping(float_to_int32_rn(x * inv_scale), azp));
  }
};

template <class Fp8>
struct Fp8MulInverse {
  float inv_scale;
  VLLM_OPS_HOST_DEVICE Fp8 operator()(float x, int64_t) const {
    return fp8_quantize<Fp8>(x, x * inv_scale);
  }
};

template <class Fp8>
struct Fp8DivScale {
  float scale;
  VLLM_OPS_HOST_DEVICE Fp8 operator()(float x, int64_t) const { return fp8_quantize<Fp8>(x, x / scale); }
};

// One scale per (group_rows x group_cols) block, at scale[(r / gr) * stride_r + (c / gc) * stride_c].
template <class Fp8>
struct Fp8GroupRow {
  const float* scale_row;  // scale + (r / gr) * stride_r
  int64_t group_cols, stride_c;
  VLLM_OPS_HOST_DEVICE float inv_scale_at(int64_t c) const {
    return 1.0f / scale_row[quotient(c, group_cols) * stride_c];
  }
  VLLM_OPS_HOST_DEVICE Fp8 operator()(float x, int64_t c) const {
    return fp8_quantize<Fp8>(x, x * inv_scale_at(c));
  }
};

// The quantizer of the kN columns from c0 (a multiple of kN), for kernels that hoist per-column
// work out of their vectors: the element quantizer itself unless it depends on the column.
// Callers check uniform_over(plan, kN) first.
template <int kN, class Q>
VLLM_OPS_HOST_DEVICE Q for_columns(const Q& q, int64_t) {
  return q;
}
template <int kN, class Fp8>
VLLM_OPS_HOST_DEVICE Fp8MulInverse<Fp8> for_columns(const Fp8GroupRow<Fp8>& q, int64_t c0) {
  return {q.inv_scale_at(c0)};
}

// ---- plans: how each op turns a row (and its statistics) into an element quantizer -----------------
// A plan is passed by value to kernels. `for_row` is evaluated by every thread of a row;
// `store_row` (the scales and zero points a dynamic op writes) by one. kPerTensor: the same
// quantizer for every element, whatever its row.

struct StaticInt8Plan {
  static constexpr RowStats kStats = RowStats::kNone;
  static constexpr bool kPerTensor = true;
  using Out = int8_t;
  const float* scale;
  VLLM_OPS_HOST_DEVICE Int8DivScale for_row(int64_t, Stats) const { return {*scale}; }
  VLLM_OPS_HOST_DEVICE void store_row(int64_t, Stats) const {}
};

struct StaticInt8AzpPlan {
  static constexpr RowStats kStats = RowStats::kNone;
  static constexpr bool kPerTensor = true;
  using Out = int8_t;
  const float* scale;
  const int32_t* azp;
  VLLM_OPS_HOST_DEVICE Int8Azp for_row(int64_t, Stats) const { return {1.0f / *scale, *azp}; }
  VLLM_OPS_HOST_DEVICE void store_row(int64_t, Stats) const {}
};

struct DynamicInt8Plan {
  static constexpr RowStats kStats = RowStats::kAbsMax;
  static constexpr bool kPerTensor = false;
  using Out = int8_t;
  float* scales;
  VLLM_OPS_HOST_DEVICE Int8MulInverse for_row(int64_t, Stats s) const {
    return {s.hi == 0.0f ? 0.0f : 127.0f / s.hi};
  }
  VLLM_OPS_HOST_DEVICE void store_row(int64_t row, Stats s) const { scales[row] = s.hi / 127.0f; }
};

struct AsymmetricInt8Params {
  float scale;
  int32_t azp;
};

// A constant row c (max == min, where vLLM's scale is 0 and its azp INT32_MIN) takes azp 0 and
// scale |c| / 127, so its q = +-127 dequantizes to c. A row with no finite value keeps the
// identity's max < min: scale 0, azp 0 (its +-inf saturate, NaN gives 0).
VLLM_OPS_HOST_DEVICE AsymmetricInt8Params asymmetric_int8_params(Stats s) {
  if (!(s.hi > s.lo)) return {s.hi == s.lo ? fabsf(s.hi) / 127.0f : 0.0f, 0};
  const float scale = (s.hi - s.lo) / 255.0f;
  return {scale, float_to_int32_rn(rintf(-128.0f - s.lo / scale))};
}

struct DynamicInt8AzpPlan {
  static constexpr RowStats kStats = RowStats::kMinMax;
  static constexpr bool kPerTensor = false;
  using Out = int8_t;
  float* scales;
  int32_t* azps;
  VLLM_OPS_HOST_DEVICE Int8Azp for_row(int64_t, Stats s) const {
    const AsymmetricInt8Params p = asymmetric_int8_params(s);
    return {1.0f / p.scale, p.azp};
  }
  VLLM_OPS_HOST_DEVICE void store_row(int64_t row, Stats s) const {
    const AsymmetricInt8Params p = asymmetric_int8_params(s);
    scales[row] = p.scale;
    azps[row] = p.azp;
  }
};

template <class Fp8>
struct StaticFp8Plan {
  static constexpr RowStats kStats = RowStats::kNone;
  static constexpr bool kPerTensor = true;
  using Out = Fp8;
  const float* scale;
  VLLM_OPS_HOST_DEVICE Fp8MulInverse<Fp8> for_row(int64_t, Stats) const { return {1.0f / *scale}; }
  VLLM_OPS_HOST_DEVICE void store_row(int64_t, Stats) const {}
};

template <class Fp8>
struct GroupFp8Plan {
  static constexpr RowStats kStats = RowStats::kNone;
  static constexpr bool kPerTensor = false;
  using Out = Fp8;
  const float* scale;
  int64_t group_rows, group_cols, stride_r, stride_c;
  VLLM_OPS_HOST_DEVICE Fp8GroupRow<Fp8> for_row(int64_t row, Stats) const {
    return {scale + quotient(row, group_rows) * stride_r, group_cols, stride_c};
  }
  VLLM_OPS_HOST_DEVICE void store_row(int64_t, Stats) const {}
};

// Whether every run of n columns from a multiple of n has one quantizer (for_columns<n>).
template <class Plan>
VLLM_OPS_HOST_DEVICE bool uniform_over(const Plan&, int64_t) {
  return true;
}
template <class Fp8>
VLLM_OPS_HOST_DEVICE bool uniform_over(const GroupFp8Plan<Fp8>& plan, int64_t n) {
  return plan.group_cols % n == 0;
}

// The per-tensor scale from the tensor's absmax (division by M is monotonic, so the max of the
// per-row quotients equals the quotient of the max).
template <class Fp8>
VLLM_OPS_HOST_DEVICE float fp8_tensor_scale(float absmax) {
  return absmax / Fp8Max<Fp8>::value;
}

// A bound caps the absmax. A NaN bound gives NaN scales (fminf would drop it and leave the cap
// silently off; a kernel cannot raise without a host sync); a negative bound acts as 0, giving
// the minimum scale, as in vLLM.
template <class Fp8>
VLLM_OPS_HOST_DEVICE float fp8_token_scale(float absmax, const float* scale_ub) {
  constexpr float kMinScale = 1.0f / (Fp8Max<Fp8>::value * 512.0f);
  if (scale_ub && *scale_ub != *scale_ub) return *scale_ub;
  const float capped = scale_ub ? fminf(absmax, *scale_ub) : absmax;
  return fmaxf(capped / Fp8Max<Fp8>::value, kMinScale);
}

template <class Fp8>
struct PerTokenFp8Plan {
  static constexpr RowStats kStats = RowStats::kAbsMax;
  static constexpr bool kPerTensor = false;
  using Out = Fp8;
  float* scales;
  const float* scale_ub;  // nullptr: no bound
  VLLM_OPS_HOST_DEVICE Fp8DivScale<Fp8> for_row(int64_t, Stats s) const {
    return {fp8_token_scale<Fp8>(s.hi, scale_ub)};
  }
  VLLM_OPS_HOST_DEVICE void store_row(int64_t row, Stats s) const {
    scales[row] = fp8_token_scale<Fp8>(s.hi, scale_ub);
  }
};

}  // namespace vllm_ops::quant
