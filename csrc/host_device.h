#pragma once
// Qualifiers for math shared between host loops and GPU kernels.

#if defined(__CUDACC__) || defined(__HIPCC__)
  #define VLLM_OPS_HOST_DEVICE __host__ __device__ __forceinline__
  #define VLLM_OPS_UNROLL _Pragma("unroll")
#else
  #define VLLM_OPS_HOST_DEVICE inline
  #define VLLM_OPS_UNROLL  // host compilers unroll by their own measure
#endif
