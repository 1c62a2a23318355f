# Generated from env.yaml `families` by `invoke families`: edit env.yaml, not this file
# (tests/toolchain/test_families.py fails when the two drift). Also read in script mode
# (cmake/print_sources.cmake, tests/toolchain/test_rocm_fence.py).

# Compiled into every target, so a GPU build still runs on CPU tensors.
set(VLLM_OPS_HOST_SOURCES
  # core
  csrc/libtorch_stable/torch_bindings.cpp
  # activation
  csrc/cpu/activation_cpu.cpp
  # w8a8
  csrc/cpu/quant_cpu.cpp
  csrc/libtorch_stable/quantization/w8a8/scaled_mm_support.cpp
  # gguf
  csrc/cpu/gguf_cpu.cpp
  # gptq
  csrc/cpu/gptq_cpu.cpp)

# GPU kernels shared by CUDA and HIP (each .cu is compiled as HIP for ROCm).
set(VLLM_OPS_GPU_SOURCES
  # activation
  csrc/libtorch_stable/activation/activation_kernels.cu
  # w8a8
  csrc/libtorch_stable/quantization/w8a8/quant_kernels.cu
  # gguf
  csrc/libtorch_stable/quantization/gguf/gguf_dequant.cu
  csrc/libtorch_stable/quantization/gguf/gguf_mmvq.cu
  csrc/libtorch_stable/quantization/gguf/gguf_mma.cu
  csrc/libtorch_stable/quantization/gguf/gguf_ops_gpu.cu
  # gptq
  csrc/libtorch_stable/quantization/gptq/gptq_dequant.cu
  csrc/libtorch_stable/quantization/gptq/gptq_gemm.cu
  csrc/libtorch_stable/quantization/gptq/gptq_shuffle.cu)

# CUDA-only families (backends without rocm). Listed by cmake/cuda.cmake only, never for
# HIP; their registrations sit under #if defined(USE_CUDA) && !defined(USE_ROCM).
set(VLLM_OPS_CUDA_ONLY_SOURCES
  # awq
  csrc/libtorch_stable/quantization/awq/awq_kernels.cu
  # permute_cols
  csrc/libtorch_stable/permute_cols.cu
  # fp4
  csrc/libtorch_stable/quantization/fp4/nvfp4_quant.cu)

# CUDA-only families compiled apart by cmake/cuda.cmake (never for HIP), each for the archs of
# its CUDA_ARCHS that the build has (all of the build's when empty) and with its DEPENDENCIES'
# headers. A family none of whose archs the build has is left out; VLLM_OPS_HAS_<FAMILY> tells
# the bindings which were compiled.
set(VLLM_OPS_SEPARATE_FAMILIES cutlass_w8a8)
set(VLLM_OPS_cutlass_w8a8_SOURCES
  csrc/libtorch_stable/quantization/w8a8/cutlass/scaled_mm_entry.cu
  csrc/libtorch_stable/quantization/w8a8/cutlass/scaled_mm_sm90_fp8.cu
  csrc/libtorch_stable/quantization/w8a8/cutlass/scaled_mm_sm90_int8.cu
  csrc/libtorch_stable/quantization/w8a8/cutlass/scaled_mm_sm90_azp_int8.cu)
set(VLLM_OPS_cutlass_w8a8_CUDA_ARCHS 9.0a)
set(VLLM_OPS_cutlass_w8a8_DEPENDENCIES cutlass)
