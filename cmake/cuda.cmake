# CUDA target: the shared GPU sources plus the CUDA-only families, compiled by nvcc for the
# env.yaml arch list. Included from CMakeLists.txt.
set(CMAKE_CUDA_ARCHITECTURES OFF)  # archs come as explicit -gencode flags below
set(CMAKE_CUDA_RUNTIME_LIBRARY Static)  # no libcudart.so version pinned into the wheel
enable_language(CUDA)
set(CMAKE_CUDA_STANDARD 17)

target_sources(_C_stable_libtorch PRIVATE ${VLLM_OPS_GPU_SOURCES} ${VLLM_OPS_CUDA_ONLY_SOURCES})
set_target_properties(_C_stable_libtorch PROPERTIES CUDA_ARCHITECTURES OFF)
target_compile_definitions(_C_stable_libtorch PRIVATE USE_CUDA)

if(VLLM_OPS_GPU_ARCHS STREQUAL "")
  message(FATAL_ERROR "VLLM_OPS_GPU_ARCHS is empty; set cuda.arch_list in env.yaml")
endif()
set(VLLM_OPS_GENCODE)
foreach(arch ${VLLM_OPS_GPU_ARCHS})
  if(NOT arch MATCHES "^[0-9]+\\.[0-9]+a?(\\+PTX)?$")
    message(FATAL_ERROR "CUDA arch '${arch}' is not of the form 9.0, 9.0a or 8.0+PTX")
  endif()
  string(REPLACE "+PTX" "" base "${arch}")
  string(REPLACE "." "" sm "${base}")
  # -gencode rather than -arch=sm_90a: the shorthand also runs a plain sm_90 pass.
  list(APPEND VLLM_OPS_GENCODE "-gencode=arch=compute_${sm},code=sm_${sm}")
  if(arch MATCHES "\\+PTX$")  # and the PTX, which newer GPUs JIT-compile at load time
    list(APPEND VLLM_OPS_GENCODE "-gencode=arch=compute_${sm},code=compute_${sm}")
  endif()
endforeach()

string(REPLACE ";" "," VLLM_OPS_HOST_PREFIX_MAPS "${VLLM_OPS_PREFIX_MAPS}")
# Determinism: nvcc names its intermediate files tmpxft_<pid>_... in /tmp and those names reach
# the object (static-initializer symbols, module ids); --objdir-as-tempdir gives them stable
# names beside the object. -frandom-seed replaces the random part of generated symbol names
# (anonymous namespaces, module ids).
target_compile_options(_C_stable_libtorch PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-O3 ${VLLM_OPS_GENCODE} --threads=${VLLM_OPS_NVCC_THREADS}
    -Xcompiler=${VLLM_OPS_HOST_PREFIX_MAPS} --objdir-as-tempdir -frandom-seed=0x5eed>)

# aoti_torch_get_current_cuda_stream lives in libtorch_cuda.so. Link against a stand-in with the
# same soname so the header torch (a CPU wheel is enough) can build CUDA targets; at run time
# the real library, loaded by `import torch`, satisfies DT_NEEDED.
add_library(torch_cuda_link_stub SHARED csrc/link_stubs/torch_gpu_stub.c)
set_target_properties(torch_cuda_link_stub PROPERTIES
  OUTPUT_NAME torch_cuda
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/link_stubs)
target_link_libraries(_C_stable_libtorch PRIVATE torch_cuda_link_stub)
