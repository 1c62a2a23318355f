#pragma once
// Qualifiers for math shared between host loops and GPU kernels.

#if defined(__CUDACC__) || defined(__HIPCC__)
  #define VLLM_OPS_HOST_DEVICE __host__ __device__ __forceinline__
#else
  #define VLLM_OPS_HOST_DEVICE inline
#endif
