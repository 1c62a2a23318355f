#pragma once
// CUDA (sm_80+) primitives shared by the fused dequantize-and-multiply kernels of GPTQ and GGUF:
// reinterpreting register bits, asynchronous global-to-shared copies, and the fp16/bf16
// tensor-core product. Not for HIP builds (the kernels using them are CUDA-only). The wheel also
// carries sm_75 code, where cp.async and these mma shapes do not exist: there the primitives
// compile to a trap, and the hosts launch the kernels using them only on compute capability 8.0
// and newer (compute_capability_major, gpu_runtime.h).

#ifndef USE_ROCM

  #include <cuda_bf16.h>
  #include <cuda_fp16.h>

  #include <cstdint>
  #include <cstring>
  #include <type_traits>

  #if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    #define VLLM_OPS_SM80_OR_TRAP(...) __trap()
  #else
    #define VLLM_OPS_SM80_OR_TRAP(...) __VA_ARGS__
  #endif

  #include <torch/headeronly/util/BFloat16.h>
  #include <torch/headeronly/util/Half.h>

namespace vllm_ops {

template <typename To, typename From>
__device__ __forceinline__ To bits_as(const From& f) {
  static_assert(sizeof(To) == sizeof(From), "same size");
  To t;
  memcpy(&t, &f, sizeof(To));
  return t;
}

// cp.async (sm_80+): a copy from global to shared memory that completes in the background, in
// groups (commit_group) waited for in order (wait_group N: all but the newest N are done). A
// thread that waits for its own copies reads them without a barrier; copies other threads made
// need a barrier after their waits. valid = false writes zeros (no global read).
template <int kBytes>
__device__ __forceinline__ void copy_async(void* smem, const void* global, bool valid) {
  const auto dst = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  const int src_bytes = valid ? kBytes : 0;
  if constexpr (kBytes == 16) {
    VLLM_OPS_SM80_OR_TRAP(asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(global),
                                       "r"(src_bytes) : "memory"));
  } else {
    VLLM_OPS_SM80_OR_TRAP(asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(dst), "l"(global),
                                       "n"(kBytes), "r"(src_bytes) : "memory"));
  }
}
__device__ __forceinline__ void commit_async() {
  VLLM_OPS_SM80_OR_TRAP(asm volatile("cp.async.commit_group;\n" ::: "memory"));
}
template <int kPending>
__device__ __forceinline__ void wait_async() {
  VLLM_OPS_SM80_OR_TRAP(asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory"));
}

// The 16-bit float types' paired conversions and the m16n8k16 product with fp32 accumulation:
// c += a (16 x 16, four registers) * b (16 x 8, two registers), fragments as PTX lays them out.
template <typename T>
struct TensorCore {
  static constexpr bool kHalf = std::is_same_v<T, torch::headeronly::Half>;
  static_assert(kHalf || std::is_same_v<T, torch::headeronly::BFloat16>, "fp16 or bf16");
  __device__ static uint32_t splat(float f) {
    if constexpr (kHalf) return bits_as<uint32_t>(__float2half2_rn(f));
    else return bits_as<uint32_t>(__float2bfloat162_rn(f));
  }
  __device__ static uint32_t pair(float lo, float hi) {
    if constexpr (kHalf) return bits_as<uint32_t>(__floats2half2_rn(lo, hi));
    else return bits_as<uint32_t>(__floats2bfloat162_rn(lo, hi));
  }
  __device__ static void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  #define VLLM_OPS_MMA_M16N8K16(type)                                                                  \
    VLLM_OPS_SM80_OR_TRAP(asm volatile(                                                             \
        "mma.sync.aligned.m16n8k16.row.col.f32." type "." type                                      \
        ".f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"                              \
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])                                            \
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1)))
    if constexpr (kHalf) VLLM_OPS_MMA_M16N8K16("f16");
    else VLLM_OPS_MMA_M16N8K16("bf16");
  #undef VLLM_OPS_MMA_M16N8K16
  }
};

}  // namespace vllm_ops

#endif  // USE_ROCM
