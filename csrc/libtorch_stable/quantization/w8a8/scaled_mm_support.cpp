// Which device capabilities this build's scaled_mm kernels (cutlass_scaled_mm,
// cutlass_scaled_mm_azp) serve. Every build answers, so a caller can ask before it calls. A cpu or
// HIP build has no such kernel. A CUDA build has them when its arch list has 9.0a (cmake/cuda.cmake
// defines VLLM_OPS_HAS_CUTLASS_W8A8): sm_90a code runs on capability 9.0 alone, and serves FP8
// (and INT8) operands with per-tensor or per-token/per-channel scales. Block-scaled FP8 and FP4
// GEMMs are not built.

#include "../../ops.h"

namespace vllm_ops {

bool scaled_mm_supports_fp8(int64_t cuda_device_capability) {
#ifdef VLLM_OPS_HAS_CUTLASS_W8A8
  return cuda_device_capability == 90;
#else
  (void)cuda_device_capability;
  return false;
#endif
}
bool scaled_mm_supports_block_fp8(int64_t) { return false; }
bool scaled_mm_supports_fp4(int64_t) { return false; }

}  // namespace vllm_ops
