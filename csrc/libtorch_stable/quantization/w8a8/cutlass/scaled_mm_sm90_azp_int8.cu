// cutlass_scaled_mm on sm_90a: the INT8 with zero points (cutlass_scaled_mm_azp) kernels, for fp16 and bf16 output.
#include "scaled_mm_sm90.cuh"

namespace vllm_ops {

void scaled_mm_azp_sm90_int8(const ScaledMmArgs& p, const WorkspaceFn& workspace) {
  scaled_mm_sm90::dispatch_output<int8_t, true>(p, workspace);
}

}  // namespace vllm_ops
