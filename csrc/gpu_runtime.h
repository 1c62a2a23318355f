#pragma once
// The few GPU runtime calls the kernels make, named once for CUDA and HIP, plus the current
// stream from torch's C shim (stable since before 2.10; ROCm torch keeps the CUDA names).

#include <torch/csrc/inductor/aoti_torch/c/shim.h>

#include <atomic>
#include <utility>

#include "torch_utils.h"

#ifdef USE_ROCM
  #include <hip/hip_runtime.h>
  // shim.h declares this under USE_CUDA only, which a HIP build leaves undefined; ROCm torch
  // exports it under the CUDA name (from libtorch_hip.so).
  extern "C" AOTI_TORCH_EXPORT AOTITorchError
  aoti_torch_get_current_cuda_stream(int32_t device_index, void** ret_stream);
  using gpuStream_t = hipStream_t;
  using gpuError_t = hipError_t;
  #define gpuSuccess hipSuccess
  #define gpuGetLastError hipGetLastError
  #define gpuGetErrorString hipGetErrorString
  #define gpuDeviceGetAttribute hipDeviceGetAttribute
  #define gpuDevAttrMultiProcessorCount hipDeviceAttributeMultiprocessorCount
  #define gpuDevAttrComputeCapabilityMajor hipDeviceAttributeComputeCapabilityMajor
  #define gpuMemsetAsync hipMemsetAsync
#else
  #include <cuda_runtime.h>
  using gpuStream_t = cudaStream_t;
  using gpuError_t = cudaError_t;
  #define gpuSuccess cudaSuccess
  #define gpuGetLastError cudaGetLastError
  #define gpuGetErrorString cudaGetErrorString
  #define gpuDeviceGetAttribute cudaDeviceGetAttribute
  #define gpuDevAttrMultiProcessorCount cudaDevAttrMultiProcessorCount
  #define gpuDevAttrComputeCapabilityMajor cudaDevAttrComputeCapabilityMajor
  #define gpuMemsetAsync cudaMemsetAsync
#endif

#define VLLM_OPS_GPU_CHECK(expr)                                                        \
  do {                                                                                  \
    const gpuError_t vllm_ops_err_ = (expr);                                            \
    TORCH_UTILS_CHECK(vllm_ops_err_ == gpuSuccess, #expr, " failed: ",                  \
                      gpuGetErrorString(vllm_ops_err_));                                \
  } while (0)

namespace vllm_ops {

// Butterfly exchange within a warp (CUDA) or wavefront (HIP); masks below 32 stay within each
// 32-lane group on both, which is what the 32-lane reductions rely on.
template <typename T>  // float or int
__device__ __forceinline__ T shfl_xor(T v, int mask) {
#ifdef USE_ROCM
  return __shfl_xor(v, mask);
#else
  return __shfl_xor_sync(0xffffffffu, v, mask);
#endif
}

// Orders shared-memory writes of one 32-lane group before its reads: __syncwarp on CUDA; on HIP
// (where 32 lanes are half a wavefront) a block barrier, so every thread of the block must call it
// the same number of times.
__device__ __forceinline__ void sync_lanes() {
#ifdef USE_ROCM
  __syncthreads();
#else
  __syncwarp();
#endif
}

// Programmatic dependent launch (sm_90 and later; no-ops elsewhere and on HIP). A kernel calls
// allow_dependent_launch to let the next kernel of its stream start early; that kernel, launched
// with the programmatic-serialization attribute, calls wait_for_prerequisite_grid before it reads
// what this one writes (the wait returns once this grid has finished and its writes are visible).
__device__ __forceinline__ void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void wait_for_prerequisite_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

#ifndef USE_ROCM
// Whether kKernel may be launched as a programmatic dependent of the kernel before it. A kernel
// compiled for a virtual arch before sm_90 has no griddepcontrol.wait (it is compiled out), so it
// could read the previous kernel's output early: the overlap is allowed only for sm_90+ PTX.
template <auto kKernel>
bool dependent_launch_allowed(int device) {
  static int cached[64] = {};  // per device: 0 unknown, 1 no, 2 yes (racing first calls agree)
  int known = device >= 0 && device < 64 ? cached[device] : 0;
  if (known == 0) {
    cudaFuncAttributes attr{};
    VLLM_OPS_GPU_CHECK(cudaFuncGetAttributes(&attr, kKernel));
    known = attr.ptxVersion >= 90 ? 2 : 1;
    if (device >= 0 && device < 64) cached[device] = known;
  }
  return known == 2;
}

// kKernel<<<grid, block, smem, stream>>>(args...), as a programmatic dependent of the stream's
// previous kernel when `dependent` (the kernel then calls wait_for_prerequisite_grid before it
// reads what that kernel writes).
template <auto kKernel, typename... Args>
void launch_kernel(dim3 grid, dim3 block, size_t smem, gpuStream_t stream, bool dependent, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute overlap{};
  overlap.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  overlap.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &overlap;
  config.numAttrs = dependent ? 1 : 0;
  VLLM_OPS_GPU_CHECK(cudaLaunchKernelEx(&config, kKernel, std::forward<Args>(args)...));
}
#endif

inline gpuStream_t current_gpu_stream(int32_t device) {
  void* stream = nullptr;
  TORCH_UTILS_CHECK(aoti_torch_get_current_cuda_stream(device, &stream) == AOTI_TORCH_SUCCESS,
                    "could not get the current stream of device ", device);
  return static_cast<gpuStream_t>(stream);
}

// A device attribute, read once per device. The cache holds value + 1, so that an attribute
// whose value is 0 (a compute capability minor of 0) is still read only once; concurrent first
// calls store the same value.
template <auto kAttribute>
int cached_device_attribute(int device) {
  constexpr int kDevices = 64;
  static std::atomic<int> cached_plus_one[kDevices] = {};
  const bool cacheable = device >= 0 && device < kDevices;
  if (cacheable) {
    const int stored = cached_plus_one[device].load(std::memory_order_relaxed);
    if (stored != 0) return stored - 1;
  }
  int value = 0;
  VLLM_OPS_GPU_CHECK(gpuDeviceGetAttribute(&value, kAttribute, device));
  if (cacheable) cached_plus_one[device].store(value + 1, std::memory_order_relaxed);
  return value;
}

inline int multiprocessor_count(int device) { return cached_device_attribute<gpuDevAttrMultiProcessorCount>(device); }

// The device's compute capability major version: kernels built on sm_80 features (cp.async,
// the m16n8k16 mma shapes; gpu_mma.h) run only where it is at least 8.
inline int compute_capability_major(int device) {
  return cached_device_attribute<gpuDevAttrComputeCapabilityMajor>(device);
}

}  // namespace vllm_ops
