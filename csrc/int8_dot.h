#pragma once
// The 8-bit dot product every integer-dot kernel is built on: four int8 lanes of `a` times four
// of `b`, summed into `acc`. One instruction on the GPUs we build for (CUDA's dp4a, the sdot4 of
// AMD's dot1 instruction set), plain arithmetic on the host. The results are exact integers, so
// every backend gives the same bits.

#include <cstdint>

#include "host_device.h"

namespace vllm_ops {

VLLM_OPS_HOST_DEVICE int32_t dot4_i8(int32_t a, int32_t b, int32_t acc) {
#if defined(__CUDA_ARCH__)
  return __dp4a(a, b, acc);
#elif defined(__HIP_DEVICE_COMPILE__) && __has_builtin(__builtin_amdgcn_sdot4)
  return __builtin_amdgcn_sdot4(a, b, acc, false);
#else
  for (int k = 0; k < 4; ++k)
    acc += static_cast<int8_t>(static_cast<uint32_t>(a) >> (8 * k)) *
           static_cast<int8_t>(static_cast<uint32_t>(b) >> (8 * k));
  return acc;
#endif
}

}  // namespace vllm_ops
