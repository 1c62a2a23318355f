"""Every op the library registers carries vLLM 0.22.0's schema, and every family we ship is there."""

from __future__ import annotations

import re
from pathlib import Path

import torch

import vllm_ops
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


def test_every_vllm_op_is_in_a_family():
    # All 33 ops of the seed (scaled_fp4_quant.out counted as one), each in one family above.
    assert sorted(sum(SHIPPED.values(), [])) == sorted(_vllm_schemas())
    assert len(_vllm_schemas()) == 33


def registered_ops() -> set[str]:
    """Every operator (name.overload) registered in the library's namespace, from the dispatcher,
    whoever registered it (the C++ library or Python)."""
    prefix = f"{vllm_ops.namespace}::"
    return {name[len(prefix):] for name in torch._C._dispatch_get_all_op_names() if name.startswith(prefix)}


def registration_mismatch(registered: set[str], wanted: set[str]) -> str:
    """'' when the two sets are equal, else what is extra and what is missing."""
    extra, missing = sorted(registered - wanted), sorted(wanted - registered)
    return "; ".join(f"{what}: {', '.join(names)}" for what, names in (("extra", extra), ("missing", missing)) if names)


def test_registered_ops_are_exactly_vllms():
    # What this build registers, not the list above: no op missing, none extra, on every target.
    assert registration_mismatch(registered_ops(), set(_vllm_schemas())) == ""


def test_registration_check_catches_a_planted_op():
    planted = torch.library.Library(vllm_ops.namespace, "FRAGMENT")
    try:
        planted.define("planted_extra_op(Tensor x) -> Tensor")
        assert registration_mismatch(registered_ops(), set(_vllm_schemas())) == "extra: planted_extra_op"
    finally:
        planted._destroy()
    assert "planted_extra_op" not in registered_ops()
    wanted = set(_vllm_schemas())
    assert registration_mismatch(wanted - {"gptq_shuffle"}, wanted) == "missing: gptq_shuffle"
