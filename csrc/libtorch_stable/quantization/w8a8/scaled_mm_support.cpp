// Which device capabilities this build's scaled_mm kernels (cutlass_scaled_mm,
// cutlass_scaled_mm_azp) serve. Every build answers, so a caller can ask before it calls: a cpu or
// HIP build compiles no scaled_mm kernel, and neither does a CUDA build yet (the CUTLASS GEMM of
// issue 15 is not written), so every answer is false until those kernels, and the arch list that
// compiles them, make one true.

#include "../../ops.h"

namespace vllm_ops {

bool scaled_mm_supports_fp8(int64_t) { return false; }
bool scaled_mm_supports_block_fp8(int64_t) { return false; }
bool scaled_mm_supports_fp4(int64_t) { return false; }

}  // namespace vllm_ops
