"""Every op the library registers carries vLLM 0.22.0's schema, and every family we ship is there."""

from __future__ import annotations

import re
from pathlib import Path

from vllm_ops._ops import ops

SHIPPED = {
    "activation": ["silu_and_mul", "mul_and_silu", "silu_and_mul_with_clamp", "gelu_and_mul", "gelu_tanh_and_mul",
                   "fatrelu_and_mul", "swigluoai_and_mul", "gelu_new", "gelu_fast", "gelu_quick"],
    "w8a8": ["static_scaled_int8_quant", "dynamic_scaled_int8_quant", "static_scaled_fp8_quant",
             "dynamic_scaled_fp8_quant", "dynamic_per_token_scaled_fp8_quant"],
    "gguf": ["ggml_dequantize", "ggml_mul_mat_vec_a8", "ggml_mul_mat_a8", "ggml_moe_a8", "ggml_moe_a8_vec",
             "ggml_moe_get_block_size"],
    "gptq": ["gptq_gemm", "gptq_shuffle"],
    # CUDA-only: the schemas exist in every build (a CPU tensor gets the dispatcher's "no kernel"
    # error, not "unknown op"); cutlass_scaled_mm(_azp) have kernels in builds with 9.0a.
    "cutlass_w8a8": ["cutlass_scaled_mm", "cutlass_scaled_mm_azp", "cutlass_scaled_mm_supports_fp8",
                     "cutlass_scaled_mm_supports_block_fp8", "cutlass_scaled_mm_supports_fp4"],
    "fp4": ["scaled_fp4_quant", "scaled_fp4_quant.out"],
    "awq": ["awq_gemm", "awq_dequantize"],
    "permute_cols": ["permute_cols"],
}


def _vllm_schemas() -> dict[str, str]:
    # tests/data/vllm_op_schemas.txt: the schemas read out of vLLM 0.22.0's compiled library.
    wanted = {}
    for line in (Path(__file__).parent / "data" / "vllm_op_schemas.txt").read_text().splitlines():
        if line.startswith("## legacy"):
            break  # the version-locked _C extension's fused ops: not this library's scope
        if line.startswith("NS::"):
            wanted[line[4:].split("(")[0]] = line[4:].replace(",Tensor", ", Tensor")
    return wanted


def test_schemas_match_vllm():
    wanted = _vllm_schemas()
    for name in sum(SHIPPED.values(), []):
        base, _, overload = name.partition(".")
        op = getattr(getattr(ops, base), overload or "default")
        registered = str(op._schema).split("::", 1)[1]
        registered = re.sub(r"Tensor\(\$?\w+!? -> \)", "Tensor!", registered)
        registered = re.sub(r"Tensor\(\$?\w+!\)\?", "Tensor!?", registered)
        assert registered == wanted[name]


def test_every_vllm_op_is_registered():
    # All 33 ops of the seed (scaled_fp4_quant.out counted as one), on every target.
    assert sorted(sum(SHIPPED.values(), [])) == sorted(_vllm_schemas())
    assert len(_vllm_schemas()) == 33
