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
# -gencode flags for a list of 9.0a-style archs.
function(vllm_ops_gencode out)
  set(flags)
  foreach(arch ${ARGN})
    if(NOT arch MATCHES "^[0-9]+\\.[0-9]+a?(\\+PTX)?$")
      message(FATAL_ERROR "CUDA arch '${arch}' is not of the form 9.0, 9.0a or 8.0+PTX")
    endif()
    string(REPLACE "+PTX" "" base "${arch}")
    string(REPLACE "." "" sm "${base}")
    # -gencode rather than -arch=sm_90a: the shorthand also runs a plain sm_90 pass.
    list(APPEND flags "-gencode=arch=compute_${sm},code=sm_${sm}")
    if(arch MATCHES "\\+PTX$")  # and the PTX, which newer GPUs JIT-compile at load time
      list(APPEND flags "-gencode=arch=compute_${sm},code=compute_${sm}")
    endif()
  endforeach()
  set(${out} ${flags} PARENT_SCOPE)
endfunction()

string(REPLACE ";" "," VLLM_OPS_HOST_PREFIX_MAPS "${VLLM_OPS_PREFIX_MAPS}")
# The options of every CUDA object, the library's and the separately compiled families'.
# Determinism: nvcc names its intermediate files tmpxft_<pid>_... in /tmp and those names reach
# the object (static-initializer symbols, module ids); --objdir-as-tempdir gives them stable
# names beside the object. -frandom-seed replaces the random part of generated symbol names
# (anonymous namespaces, module ids).
function(vllm_ops_cuda_options target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-O3 ${ARGN} --threads=${VLLM_OPS_NVCC_THREADS}
      -Xcompiler=${VLLM_OPS_HOST_PREFIX_MAPS} --objdir-as-tempdir -frandom-seed=0x5eed>)
endfunction()

vllm_ops_gencode(VLLM_OPS_GENCODE ${VLLM_OPS_GPU_ARCHS})
vllm_ops_cuda_options(_C_stable_libtorch ${VLLM_OPS_GENCODE})

# The families compiled apart (cmake/sources.cmake): each an object library of the library's
# settings plus its own archs and dependencies.
string(REPLACE "+PTX" "" VLLM_OPS_BUILD_BASE_ARCHS "${VLLM_OPS_GPU_ARCHS}")
foreach(family ${VLLM_OPS_SEPARATE_FAMILIES})
  set(archs)
  if(VLLM_OPS_${family}_CUDA_ARCHS)
    foreach(arch ${VLLM_OPS_${family}_CUDA_ARCHS})
      if(arch IN_LIST VLLM_OPS_BUILD_BASE_ARCHS)
        list(APPEND archs ${arch})
      endif()
    endforeach()
  else()
    set(archs ${VLLM_OPS_GPU_ARCHS})
  endif()
  if(NOT archs)
    message(STATUS "family ${family}: none of its archs (${VLLM_OPS_${family}_CUDA_ARCHS}) is in this build's "
                   "list (${VLLM_OPS_GPU_ARCHS}); left out, its ops answer \"no kernel\"")
    continue()
  endif()
  set(objects vllm_ops_${family})
  add_library(${objects} OBJECT ${VLLM_OPS_${family}_SOURCES})
  set_target_properties(${objects} PROPERTIES CUDA_ARCHITECTURES OFF POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${objects} SYSTEM PRIVATE ${VLLM_OPS_TORCH_INCLUDE_DIR})
  target_compile_definitions(${objects} PRIVATE USE_CUDA TORCH_TARGET_VERSION=${VLLM_OPS_TORCH_TARGET_VERSION}
    VLLM_OPS_NAMESPACE=${VLLM_OPS_NAMESPACE})
  vllm_ops_gencode(gencode ${archs})
  vllm_ops_cuda_options(${objects} ${gencode})
  if("cutlass" IN_LIST VLLM_OPS_${family}_DEPENDENCIES)
    if(NOT EXISTS "${VLLM_OPS_CUTLASS_INCLUDE_DIR}/cutlass/version.h")
      message(FATAL_ERROR "family ${family} needs CUTLASS's headers: VLLM_OPS_CUTLASS_INCLUDE_DIR "
        "('${VLLM_OPS_CUTLASS_INCLUDE_DIR}', from CUTLASS_INCLUDE_DIR) has no cutlass/version.h. The cuda image "
        "sets it; natively, pip install the env.yaml cuda.cutlass_wheel pin")
    endif()
    file(STRINGS "${VLLM_OPS_CUTLASS_INCLUDE_DIR}/cutlass/version.h" cutlass_version REGEX
         "#define CUTLASS_(MAJOR|MINOR|PATCH) [0-9]+")
    string(REGEX REPLACE "[^;]*MAJOR ([0-9]+);[^;]*MINOR ([0-9]+);[^;]*PATCH ([0-9]+).*" "\\1.\\2.\\3"
           cutlass_version "${cutlass_version}")
    if(NOT VLLM_OPS_CUTLASS_VERSION MATCHES "^${cutlass_version}(\\.|$)")
      message(FATAL_ERROR "CUTLASS headers at ${VLLM_OPS_CUTLASS_INCLUDE_DIR} are ${cutlass_version}; env.yaml "
                          "pins nvidia-cutlass ${VLLM_OPS_CUTLASS_VERSION}")
    endif()
    target_include_directories(${objects} SYSTEM PRIVATE ${VLLM_OPS_CUTLASS_INCLUDE_DIR})
    # CUTLASS's cute layouts call constexpr host functions from device code.
    target_compile_options(${objects} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr>)
  endif()
  target_sources(_C_stable_libtorch PRIVATE $<TARGET_OBJECTS:${objects}>)
  string(TOUPPER "${family}" upper)
  # The bindings register the family's ops, and the capability queries answer, only when compiled.
  target_compile_definitions(_C_stable_libtorch PRIVATE VLLM_OPS_HAS_${upper})
  message(STATUS "family ${family}: compiled for ${archs}")
endforeach()

# aoti_torch_get_current_cuda_stream lives in libtorch_cuda.so. Link against a stand-in with the
# same soname so the header torch (a CPU wheel is enough) can build CUDA targets; at run time
# the real library, loaded by `import torch`, satisfies DT_NEEDED.
add_library(torch_cuda_link_stub SHARED csrc/link_stubs/torch_gpu_stub.c)
set_target_properties(torch_cuda_link_stub PROPERTIES
  OUTPUT_NAME torch_cuda
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/link_stubs)
target_link_libraries(_C_stable_libtorch PRIVATE torch_cuda_link_stub)
