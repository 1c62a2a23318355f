"""A small pass over every GGUF kernel for compute-sanitizer (scripts/gpu_family_evidence.sh, FAMILY=gguf):
every type through dequantize and the integer-dot kernel at each token tile, the MoE maps and
the fused tensor-core kernel, the dequantize-and-GEMM path, on shapes small enough to run under the tools."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_gguf import FLOAT_TYPES, QUANT_TYPES, align_block_size, make_moe_case, random_blocks, type_id  # noqa: E402

import vllm_ops  # noqa: E402

ops = getattr(torch.ops, vllm_ops.namespace)
for name in FLOAT_TYPES + QUANT_TYPES:
    w = torch.from_numpy(random_blocks(name, 8, 512)).cuda()
    ops.ggml_dequantize(w, type_id(name), 8, 512, torch.bfloat16)
    if name in QUANT_TYPES:
        for tokens in (1, 2, 3, 8, 40, 300):  # 2-255 at 16 bits: the fused kernel; 300: dequantize + GEMM
            ops.ggml_mul_mat_a8(w, torch.randn(tokens, 512, device="cuda", dtype=torch.float16), type_id(name), 8)
        ops.ggml_mul_mat_a8(w, torch.randn(8, 512, device="cuda"), type_id(name), 8)  # fp32: integer-dot
        # The fused kernel over W one row in (rows at any byte offset), 19 rows (a partial tile),
        # K = 2304 (uneven K slices), bf16.
        w2 = torch.from_numpy(random_blocks(name, 20, 2304)).cuda()[1:]
        ops.ggml_mul_mat_a8(w2, torch.randn(70, 2304, device="cuda", dtype=torch.bfloat16), type_id(name), 19)
for name in ("Q4_K", "IQ2_S", "Q8_0"):
    for dtype in (torch.float32, torch.float16):  # the integer-dot and the fused kernel
        W, _, X, topk = make_moe_case(name, 37, 2, 3, 256, 8, dtype=dtype, device="cuda")
        ops.ggml_moe_a8_vec(X, W, topk, 2, type_id(name), 8, 37)
        block = ops.ggml_moe_get_block_size(type_id(name))
        s, e, p = (t.cuda() for t in align_block_size(topk.cpu(), block, 3))
        ops.ggml_moe_a8(X, W, s, e, p, type_id(name), 8, 2, 37)
    # Skewed routing: 37 entries in a block sized for 10 (several passes of the fused kernel).
    W, _, X, _ = make_moe_case(name, 37, 2, 8, 256, 8, dtype=torch.bfloat16, device="cuda")
    skewed = torch.tensor([[0, 1]] * 37, dtype=torch.int32)
    s, e, p = (t.cuda() for t in align_block_size(skewed, ops.ggml_moe_get_block_size(type_id(name)), 8))
    ops.ggml_moe_a8(X, W, s, e, p, type_id(name), 8, 2, 37)
torch.cuda.synchronize()
print("sanitize pass done")
