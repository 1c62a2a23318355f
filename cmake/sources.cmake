# Source lists, in one place. Also readable in script mode (tests/toolchain/test_rocm_fence.py).

# Compiled into every target, so a GPU build still runs on CPU tensors.
set(VLLM_OPS_HOST_SOURCES
  csrc/libtorch_stable/torch_bindings.cpp
  csrc/cpu/activation_cpu.cpp
  csrc/cpu/quant_cpu.cpp
  csrc/cpu/gguf_cpu.cpp
  csrc/cpu/gptq_cpu.cpp)

# GPU kernels shared by CUDA and HIP (each .cu is compiled as HIP for ROCm).
set(VLLM_OPS_GPU_SOURCES
  csrc/libtorch_stable/activation/activation_kernels.cu
  csrc/libtorch_stable/quantization/w8a8/quant_kernels.cu
  csrc/libtorch_stable/quantization/gguf/gguf_dequant.cu
  csrc/libtorch_stable/quantization/gguf/gguf_mmvq.cu
  csrc/libtorch_stable/quantization/gguf/gguf_ops_gpu.cu
  csrc/libtorch_stable/quantization/gptq/gptq_dequant.cu
  csrc/libtorch_stable/quantization/gptq/gptq_gemm.cu
  csrc/libtorch_stable/quantization/gptq/gptq_shuffle.cu)

# CUDA-only families (CUTLASS W8A8, FP4, AWQ, permute_cols). Listed by cmake/cuda.cmake only,
# never for HIP; their registrations sit under #ifndef USE_ROCM.
set(VLLM_OPS_CUDA_ONLY_SOURCES)
