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
}


def _vllm_schemas() -> dict[str, str]:
    # tests/data/vllm_op_schemas.txt: the schemas read out of vLLM 0.22.0's compiled library.
    wanted = {}
    for line in (Path(__file__).parent / "data" / "vllm_op_schemas.txt").read_text().splitlines():
        if line.startswith("NS::"):
            wanted[line[4:].split("(")[0]] = line[4:].replace(",Tensor", ", Tensor")
    return wanted


def test_schemas_match_vllm():
    wanted = _vllm_schemas()
    for name in sum(SHIPPED.values(), []):
        op = getattr(ops, name)
        registered = str(op.default._schema).split("::", 1)[1]
        registered = re.sub(r"Tensor\(\$?\w+!? -> \)", "Tensor!", registered)
        registered = re.sub(r"Tensor\(\$?\w+!\)\?", "Tensor!?", registered)
        assert registered == wanted[name]
