#pragma once
// Storage-dtype arithmetic: each step is computed exactly (or in float) and rounded to the
// storage dtype, as the reference kernels do for their "T" arithmetic. Ops whose semantics are
// a chain of such steps are written once over a policy S, and evaluated with:
//  - ScalarStorage<T>: one value kept in float and rounded after each step (every backend);
//  - PairStorage<T> (CUDA, fp16/bf16): two values in one packed register, + and * done by the
//    packed half/bfloat16 instructions, float steps by one packed conversion per pair.
// Both give the same bits: float has at least 2p+2 significand bits for fp16 (p=11) and bf16
// (p=8), so rounding a float +, - or * of two storage values to storage precision equals the
// correctly rounded storage operation (double rounding is innocuous).

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../host_device.h"

#if defined(__CUDACC__) && !defined(USE_ROCM)
  #include <cuda_bf16.h>
  #include <cuda_fp16.h>
#endif

#include <torch/headeronly/util/BFloat16.h>
#include <torch/headeronly/util/Half.h>

namespace vllm_ops::activation {

// Rounds float to T. On sm_80+ a bf16 rounding goes through the packed conversion
// (cvt.rn.bf16x2.f32), which issues at full ALU rate, where the scalar cvt.rn.bf16.f32 runs on
// the much narrower conversion unit. Both round to nearest even.
template <typename T>
VLLM_OPS_HOST_DEVICE T round_to(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800 && !defined(USE_ROCM)
  if constexpr (std::is_same_v<T, c10::BFloat16>) {
    uint32_t packed;
    asm("cvt.rn.bf16x2.f32 %0, %1, %1;" : "=r"(packed) : "f"(x));
    return c10::BFloat16(static_cast<uint16_t>(packed), c10::BFloat16::from_bits());
  }
#endif
  return static_cast<T>(x);
}

// One float result rounded to the storage dtype and widened back.
template <typename T>
VLLM_OPS_HOST_DEVICE float in_storage(float x) {
  return static_cast<float>(round_to<T>(x));
}

template <typename T>
struct ScalarStorage {
  using V = float;  // a value of T, held in float
  static VLLM_OPS_HOST_DEVICE V load(T x) { return static_cast<float>(x); }
  static VLLM_OPS_HOST_DEVICE T store(V v) { return round_to<T>(v); }
  static VLLM_OPS_HOST_DEVICE V constant(float c) { return in_storage<T>(c); }
  static VLLM_OPS_HOST_DEVICE V add(V a, V b) { return in_storage<T>(a + b); }
  static VLLM_OPS_HOST_DEVICE V mul(V a, V b) { return in_storage<T>(a * b); }
  // A float constant times a value, in float, then rounded (`(T)(k * (float)a)`).
  static VLLM_OPS_HOST_DEVICE V scale(float k, V a) { return in_storage<T>(k * a); }
  // A float function of a value, rounded (`(T)f((float)a)`).
  template <class F>
  static VLLM_OPS_HOST_DEVICE V apply(const F& f, V a) {
    return in_storage<T>(f(a));
  }
};

// Declared everywhere so that kernels can name it under `if constexpr (kPairwise<...>)`;
// defined for CUDA only.
template <typename T>
struct PairStorage;

#if defined(__CUDACC__) && !defined(USE_ROCM)
template <typename T>
struct PairTraits;
template <>
struct PairTraits<c10::Half> {
  using V = __half2;
  static __device__ __forceinline__ V from_float2(float2 f) { return __float22half2_rn(f); }
  static __device__ __forceinline__ float2 to_float2(V v) { return __half22float2(v); }
};
template <>
struct PairTraits<c10::BFloat16> {
  using V = __nv_bfloat162;
  static __device__ __forceinline__ V from_float2(float2 f) { return __float22bfloat162_rn(f); }
  static __device__ __forceinline__ float2 to_float2(V v) { return __bfloat1622float2(v); }
};

template <typename T>
struct PairStorage {
  using Traits = PairTraits<T>;
  using V = typename Traits::V;
  static __device__ __forceinline__ V load(const T* pair) {
    V v;
    memcpy(&v, pair, sizeof(V));
    return v;
  }
  static __device__ __forceinline__ void store(V v, T* pair) { memcpy(pair, &v, sizeof(V)); }
  static __device__ __forceinline__ V constant(float c) { return Traits::from_float2(make_float2(c, c)); }
  // The _rn forms: plain __hadd2/__hmul2 may be contracted into one fused multiply-add, which
  // skips the product's rounding (measured: gelu_fast fp16 then differs by up to 616 ulp).
  static __device__ __forceinline__ V add(V a, V b) { return __hadd2_rn(a, b); }
  static __device__ __forceinline__ V mul(V a, V b) { return __hmul2_rn(a, b); }
  static __device__ __forceinline__ V scale(float k, V a) {
    const float2 f = Traits::to_float2(a);
    return Traits::from_float2(make_float2(k * f.x, k * f.y));
  }
  template <class F>
  static __device__ __forceinline__ V apply(const F& f, V a) {
    const float2 x = Traits::to_float2(a);
    return Traits::from_float2(make_float2(f(x.x), f(x.y)));
  }
};

#endif

// Whether an op is written over a storage-arithmetic policy (an `eval<S>` member) that
// PairStorage<T> can evaluate two elements at a time.
template <class Op, class = void>
struct HasStorageForm : std::false_type {};
template <class Op>
struct HasStorageForm<Op, std::void_t<decltype(Op::kStorageArithmetic)>> : std::bool_constant<Op::kStorageArithmetic> {};

template <class Op, typename T>
constexpr bool kPairwise =
#if defined(__CUDACC__) && !defined(USE_ROCM)
    HasStorageForm<Op>::value && (std::is_same_v<T, c10::Half> || std::is_same_v<T, c10::BFloat16>);
#else
    false;
#endif

}  // namespace vllm_ops::activation
