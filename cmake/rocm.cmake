# ROCm target: the shared GPU sources compiled as HIP by clang (Debian's ROCm 5.7 toolchain)
# for the env.yaml arch list. CUDA-only sources are never listed here. Included from
# CMakeLists.txt.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "the rocm target compiles HIP with clang; set CXX=clang++-17 (the toolchain image does)")
endif()
if(VLLM_OPS_GPU_ARCHS STREQUAL "")
  message(FATAL_ERROR "VLLM_OPS_GPU_ARCHS is empty; set rocm.arch_list in env.yaml")
endif()

set(VLLM_OPS_OFFLOAD_ARCHS)
foreach(arch ${VLLM_OPS_GPU_ARCHS})
  if(NOT arch MATCHES "^gfx[0-9a-f]+$")
    message(FATAL_ERROR "AMD arch '${arch}' is not of the form gfx942")
  endif()
  list(APPEND VLLM_OPS_OFFLOAD_ARCHS "--offload-arch=${arch}")
endforeach()

# The .cu files are HIP sources to clang: compile them as CXX with -x hip. (CMake's HIP
# language wants a full ROCm install layout that Debian's packages do not provide.)
set_source_files_properties(${VLLM_OPS_GPU_SOURCES} PROPERTIES
  LANGUAGE CXX
  COMPILE_OPTIONS "-x;hip;${VLLM_OPS_OFFLOAD_ARCHS}")
target_sources(_C_stable_libtorch PRIVATE ${VLLM_OPS_GPU_SOURCES})
# USE_CUDA exposes the CUDA stream/guard declarations of torch's C shim, which ROCm torch
# implements under the same names (HIPified) in libtorch_hip.so.
target_compile_definitions(_C_stable_libtorch PRIVATE USE_ROCM USE_CUDA __HIP_PLATFORM_AMD__)

find_library(VLLM_OPS_AMDHIP64 amdhip64 REQUIRED)
add_library(torch_hip_link_stub SHARED csrc/link_stubs/torch_gpu_stub.c)
set_target_properties(torch_hip_link_stub PROPERTIES
  OUTPUT_NAME torch_hip
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/link_stubs)
target_link_libraries(_C_stable_libtorch PRIVATE ${VLLM_OPS_AMDHIP64} torch_hip_link_stub)
