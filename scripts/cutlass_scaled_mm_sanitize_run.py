"""A small pass over cutlass_scaled_mm(_azp) for compute-sanitizer: each tile shape (M picks it),
fp8 and int8, fp16 and bf16 out, scalar and vector scales, with and without bias, both zero-point
forms, on shapes small enough to run under the tools."""

import torch

import vllm_ops

ops = getattr(torch.ops, vllm_ops.namespace)
# the four tile shapes: swapped 64 x 16 and 64 x 64, then 64 x 128 and 128 x 128
for m, n, k in ((1, 48, 64), (40, 272, 128), (200, 512, 256), (1100, 2048, 256)):
    for dtype in (torch.float8_e4m3fn, torch.int8):
        a = torch.randn(m, k, device="cuda").mul(3).to(dtype)
        b = torch.randn(n, k, device="cuda").mul(3).to(dtype).t()
        for out_dtype in (torch.float16, torch.bfloat16):
            out = torch.empty(m, n, device="cuda", dtype=out_dtype)
            bias = torch.randn(n, device="cuda", dtype=out_dtype)
            ops.cutlass_scaled_mm(out, a, b, torch.rand(1, device="cuda"), torch.rand(1, device="cuda"), None)
            ops.cutlass_scaled_mm(out, a, b, torch.rand(m, 1, device="cuda"), torch.rand(n, device="cuda"), bias)
            if dtype == torch.int8:
                adj = b.int().sum(0, dtype=torch.int32)
                azp = torch.randint(-9, 9, (m,), device="cuda", dtype=torch.int32)
                ops.cutlass_scaled_mm_azp(out, a, b, torch.rand(m, device="cuda"), torch.rand(1, device="cuda"),
                                          adj * 3, None, bias)
                ops.cutlass_scaled_mm_azp(out, a, b, torch.rand(1, device="cuda"), torch.rand(n, device="cuda"), adj,
                                          azp, None)
torch.cuda.synchronize()
print("sanitize pass done")
