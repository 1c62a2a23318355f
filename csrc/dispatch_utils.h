#pragma once
// Dtype dispatch over the stable ScalarType. Each case binds `scalar_t` to the storage type.

#include <torch/headeronly/core/ScalarType.h>
#include <torch/headeronly/util/BFloat16.h>
#include <torch/headeronly/util/Half.h>

#include "torch_utils.h"

#define VLLM_OPS_DISPATCH_CASE(enum_name, type, ...) \
  case torch::headeronly::ScalarType::enum_name: {   \
    using scalar_t = type;                           \
    __VA_ARGS__();                                   \
    break;                                           \
  }

// Float32, Float16 and BFloat16, the activation dtypes.
#define VLLM_OPS_DISPATCH_FLOATING_TYPES(dtype, op_name, ...)                         \
  switch (dtype) {                                                                    \
    VLLM_OPS_DISPATCH_CASE(Float, float, __VA_ARGS__)                                 \
    VLLM_OPS_DISPATCH_CASE(Half, torch::headeronly::Half, __VA_ARGS__)                \
    VLLM_OPS_DISPATCH_CASE(BFloat16, torch::headeronly::BFloat16, __VA_ARGS__)        \
    default:                                                                          \
      TORCH_UTILS_CHECK(false, op_name, ": unsupported dtype ",                       \
                        torch::headeronly::toString(dtype));                          \
  }

namespace vllm_ops {

// Calls f(T{}) with T = Half or BFloat16, the 16-bit activation dtypes; the caller has checked
// that `dtype` is one of them.
template <class F>
void dispatch_half_types(torch::headeronly::ScalarType dtype, F&& f) {
  if (dtype == torch::headeronly::ScalarType::BFloat16) {
    f(torch::headeronly::BFloat16{});
  } else {
    f(torch::headeronly::Half{});
  }
}

}  // namespace vllm_ops
