"""A small pass over the activation and W8A8 kernels for compute-sanitizer (scripts/gpu-sanitize.sh):
every op and dtype on one row and a few rows, widths that are and are not a multiple of the
kernels' vectors, and inputs and outputs at an element offset (the misaligned, scalar paths).
Prints how many op calls it made. `--device cpu` runs the same calls on the CPU kernels (so the
driver itself is checked on a machine without a GPU)."""

import argparse

import torch

import vllm_ops

ops = getattr(torch.ops, vllm_ops.namespace)
parser = argparse.ArgumentParser()
parser.add_argument("--device", default="cuda")
device = parser.parse_args().device

GATED = ["silu_and_mul", "mul_and_silu", "gelu_and_mul", "gelu_tanh_and_mul"]
UNARY = ["gelu_new", "gelu_fast", "gelu_quick"]
FP8 = torch.float8_e4m3fn
calls = 0


def at_offset(shape, dtype, offset):
    """A contiguous tensor of `shape` starting `offset` elements into its storage."""
    numel = 1
    for s in shape:
        numel *= s
    return torch.empty(numel + offset, dtype=dtype, device=device)[offset:].view(shape)


def call(op, *args):
    global calls
    op(*args)
    calls += 1


for dtype in (torch.float16, torch.bfloat16, torch.float32):
    for rows, width, offset in ((1, 8, 0), (3, 13, 0), (5, 4104, 1), (2, 1, 0), (7, 264, 3)):
        x = at_offset((rows, 2 * width), dtype, offset).normal_()
        out = at_offset((rows, width), dtype, offset)
        for name in GATED:
            call(getattr(ops, name), out, x)
        call(ops.silu_and_mul_with_clamp, out, x, 7.0)
        call(ops.fatrelu_and_mul, out, x, 0.1)
        call(ops.swigluoai_and_mul, out, x, 1.702, 7.0)
        whole = at_offset((rows, width), dtype, offset).normal_()
        for name in UNARY:
            call(getattr(ops, name), out, whole)

        # W8A8 on the same shapes: static and dynamic int8 (with and without zero points), static
        # per-tensor and per-group fp8, dynamic per-tensor and per-token fp8.
        q8 = at_offset((rows, width), torch.int8, offset)
        scale = torch.tensor([0.02], device=device)
        call(ops.static_scaled_int8_quant, q8, whole, scale, None)
        call(ops.static_scaled_int8_quant, q8, whole, scale, torch.tensor([3], dtype=torch.int32, device=device))
        token_scale = torch.empty(rows, 1, device=device)
        call(ops.dynamic_scaled_int8_quant, q8, whole, token_scale, None)
        call(ops.dynamic_scaled_int8_quant, q8, whole, token_scale, torch.empty(rows, 1, dtype=torch.int32,
                                                                                  device=device))
        f8 = at_offset((rows, width), FP8, offset)
        call(ops.static_scaled_fp8_quant, f8, whole, scale, None)
        if width % 8 == 0:
            groups = torch.full((rows, width // 8), 0.05, device=device)
            call(ops.static_scaled_fp8_quant, f8, whole, groups, [1, 8])
        call(ops.dynamic_scaled_fp8_quant, f8, whole, torch.zeros(1, device=device))
        call(ops.dynamic_per_token_scaled_fp8_quant, f8, whole, torch.empty(rows, 1, device=device), None)
        call(ops.dynamic_per_token_scaled_fp8_quant, f8, whole, torch.empty(rows, 1, device=device),
             torch.tensor([1.0], device=device))
if device == "cuda":
    torch.cuda.synchronize()
print(f"sanitize pass done: {calls} op calls")
