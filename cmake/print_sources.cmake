# cmake -DVLLM_OPS_TARGET=rocm -P cmake/print_sources.cmake: the sources that target compiles, one a line.
include(${CMAKE_CURRENT_LIST_DIR}/sources.cmake)
set(sources ${VLLM_OPS_HOST_SOURCES})
if(VLLM_OPS_TARGET STREQUAL "cuda")
  list(APPEND sources ${VLLM_OPS_GPU_SOURCES} ${VLLM_OPS_CUDA_ONLY_SOURCES})
  foreach(family ${VLLM_OPS_SEPARATE_FAMILIES})  # when the build has one of their archs
    list(APPEND sources ${VLLM_OPS_${family}_SOURCES})
  endforeach()
elseif(VLLM_OPS_TARGET STREQUAL "rocm")
  list(APPEND sources ${VLLM_OPS_GPU_SOURCES})
endif()
foreach(source ${sources})
  message(STATUS "${source}")
endforeach()
