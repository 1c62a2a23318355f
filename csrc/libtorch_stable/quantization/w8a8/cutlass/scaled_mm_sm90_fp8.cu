// cutlass_scaled_mm on sm_90a: the FP8 e4m3 kernels, for fp16 and bf16 output.
#include "scaled_mm_sm90.cuh"

namespace vllm_ops {

void scaled_mm_sm90_fp8(const ScaledMmArgs& p, const WorkspaceFn& workspace) {
  scaled_mm_sm90::dispatch_output<cutlass::float_e4m3_t, false>(p, workspace);
}

}  // namespace vllm_ops
