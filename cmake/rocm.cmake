# ROCm target: the shared GPU sources (each .cu compiled as HIP), never the CUDA-only families,
# for the env.yaml gfx arch list. Included from CMakeLists.txt.
if(VLLM_OPS_GPU_ARCHS STREQUAL "")
  message(FATAL_ERROR "VLLM_OPS_GPU_ARCHS is empty; set rocm.arch_list in env.yaml")
endif()
foreach(arch ${VLLM_OPS_GPU_ARCHS})
  if(NOT arch MATCHES "^gfx[0-9a-f]+(:[a-z-]+[+-])*$")
    message(FATAL_ERROR "ROCm arch '${arch}' is not of the form gfx942 or gfx90a:xnack-")
  endif()
endforeach()

# Distro ROCm ships only versioned clang names (clang++-17); CMake's HIP support wants the
# clang that hipcc wraps, so reuse the C++ compiler when that is a clang.
if(NOT CMAKE_HIP_COMPILER AND NOT DEFINED ENV{HIPCXX} AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  set(CMAKE_HIP_COMPILER ${CMAKE_CXX_COMPILER})
endif()
# Set before enable_language so CMake does not probe for a GPU to pick a default.
set(CMAKE_HIP_ARCHITECTURES ${VLLM_OPS_GPU_ARCHS})
set(CMAKE_HIP_RUNTIME_LIBRARY Shared)  # libamdhip64 by soname (DT_NEEDED libamdhip64.so.N)
enable_language(HIP)
set(CMAKE_HIP_STANDARD 17)

set_source_files_properties(${VLLM_OPS_GPU_SOURCES} PROPERTIES LANGUAGE HIP)
target_sources(_C_stable_libtorch PRIVATE ${VLLM_OPS_GPU_SOURCES})
# The target predates enable_language(HIP), so its HIP properties are set here, not inherited.
set_target_properties(_C_stable_libtorch PROPERTIES
  HIP_ARCHITECTURES "${VLLM_OPS_GPU_ARCHS}"  # one --offload-arch per entry
  HIP_VISIBILITY_PRESET hidden)
# USE_ROCM selects the HIP branches of csrc/ and of torch's headers; USE_CUDA stays undefined so
# no CUDA-only declaration or registration is seen (gpu_runtime.h declares the one stream call
# it needs). __HIP_PLATFORM_AMD__ too for the host-only .cpp files, which hip-lang does not set.
target_compile_definitions(_C_stable_libtorch PRIVATE USE_ROCM __HIP_PLATFORM_AMD__)
target_compile_options(_C_stable_libtorch PRIVATE
  $<$<COMPILE_LANGUAGE:HIP>:-O3 ${VLLM_OPS_PREFIX_MAPS}>)

# aoti_torch_get_current_cuda_stream lives in libtorch_hip.so on ROCm torch (the CUDA name is
# kept). Link against the stand-in cuda.cmake uses, under that soname; at run time the real
# library, loaded by `import torch`, satisfies DT_NEEDED.
add_library(torch_hip_link_stub SHARED csrc/link_stubs/torch_gpu_stub.c)
set_target_properties(torch_hip_link_stub PROPERTIES
  OUTPUT_NAME torch_hip
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/link_stubs)
target_link_libraries(_C_stable_libtorch PRIVATE torch_hip_link_stub)
