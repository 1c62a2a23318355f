"""Fake (meta) implementations, so the ops trace under torch.compile and pass opcheck.

Every fake first checks that all tensor arguments share one device (_one_device), as every
kernel does. Ops that only mutate their `Tensor!` arguments and return nothing need no more:
they are found from the registered schemas, so a new op of that kind needs no entry here. Ops
that return tensors have a fake below that checks what the kernel checks without the GGML type
table (dtypes, ranks, the stated sizes) and returns the real output shape; the kernels check the
byte lengths that need it.
"""

import torch


def _mutates_only(schema) -> bool:
    return not schema.returns and any(a.alias_info and a.alias_info.is_write for a in schema.arguments)


def register_all(namespace: str) -> None:
    returning = set()
    for schema in torch._C._jit_get_all_schemas():
        if not schema.name.startswith(f"{namespace}::"):
            continue
        name = schema.name.split("::", 1)[1]
        qualified = schema.name + (f".{schema.overload_name}" if schema.overload_name else "")
        if _mutates_only(schema):
            torch.library.register_fake(qualified)(_one_device(name, schema, _no_output))
        elif name in _RETURNING and not schema.overload_name:
            torch.library.register_fake(qualified)(_one_device(name, schema, _RETURNING[name]))
            returning.add(name)
    missing = sorted(set(_RETURNING) - returning)
    if missing:
        raise RuntimeError(f"vllm_ops: the library registers no schema for {', '.join(missing)}")


def _no_output(*args, **kwargs) -> None:
    return None


def _one_device(op: str, schema, fake):
    """`fake` after the check every kernel makes: all tensor arguments on one device. The fakes
    also serve the Meta dispatch key, so without it a meta tensor among real ones would make the
    call a silent no-op (the Meta key wins the dispatch)."""
    names = [a.name for a in schema.arguments]

    def checked(*args, **kwargs):
        first = None
        for name, value in [*zip(names, args, strict=False), *kwargs.items()]:
            for t in value if isinstance(value, list | tuple) else (value,):
                if isinstance(t, torch.Tensor):
                    if first is None:
                        first = (name, t.device)
                    elif t.device != first[1]:
                        raise RuntimeError(f"{op}: {name} must be on the device of {first[0]} ({first[1]}), "
                                           f"got {t.device}")
        return fake(*args, **kwargs)

    return checked


_FLOATS = (torch.float32, torch.float16, torch.bfloat16)


def _check(cond: bool, op: str, message: str) -> None:
    if not cond:
        raise RuntimeError(f"{op}: {message}")


def _check_weight(op: str, W: torch.Tensor, dims: int, row: int | None = None) -> None:
    _check(W.dtype == torch.uint8, op, f"W must have dtype Byte, got {W.dtype}")
    if dims:
        _check(W.dim() == dims, op, f"W must be {dims}-D, got shape {list(W.shape)}")
    if row is not None:
        _check(W.size(-2) == row, op, f"row must equal W.size({dims - 2}) = {W.size(-2)}, got {row}")


def _check_x(op: str, X: torch.Tensor) -> None:
    _check(X.dtype in _FLOATS, op, f"X must have dtype Float, Half or BFloat16, got {X.dtype}")
    _check(X.dim() == 2, op, f"X must be 2-D [tokens, K], got shape {list(X.shape)}")


def _check_routing(op: str, name: str, t: torch.Tensor) -> None:
    _check(t.dtype == torch.int32, op, f"{name} must have dtype Int, got {t.dtype}")


def _ggml_dequantize(W, type, m, n, dtype):
    _check_weight("ggml_dequantize", W, 0)
    dtype = torch.float16 if dtype is None else dtype
    _check(dtype in _FLOATS, "ggml_dequantize", f"dtype must be Float, Half or BFloat16, got {dtype}")
    return W.new_empty((m, n), dtype=dtype)


def _ggml_matmul(op):
    def fake(W, X, type, row):
        _check_weight(op, W, 2, row)
        _check_x(op, X)
        return X.new_empty((X.size(0), row))

    return fake


def _ggml_moe_a8(X, W, sorted_token_ids, expert_ids, num_tokens_post_padded, type, row, top_k, tokens):
    op = "ggml_moe_a8"
    _check_weight(op, W, 3, row)
    _check_x(op, X)
    for name, t in (("sorted_token_ids", sorted_token_ids), ("expert_ids", expert_ids),
                    ("num_tokens_post_padded", num_tokens_post_padded)):
        _check_routing(op, name, t)
    return X.new_empty((tokens * top_k, row))


def _ggml_moe_a8_vec(X, W, topk_ids, top_k, type, row, tokens):
    op = "ggml_moe_a8_vec"
    _check_weight(op, W, 3, row)
    _check_x(op, X)
    _check_routing(op, "topk_ids", topk_ids)
    return X.new_empty((tokens * top_k, row))


def _gptq_gemm(a, b_q_weight, b_gptq_qzeros, b_gptq_scales, b_g_idx, use_exllama, use_v2_format, bit):
    op = "gptq_gemm"
    _check(bit in (2, 3, 4, 8), op, f"bit must be 2, 3, 4 or 8, got {bit}")
    _check(a.dtype in (torch.float16, torch.bfloat16), op, f"a must have dtype Half or BFloat16, got {a.dtype}")
    _check(a.dim() == 2, op, f"a must be 2-D [M, K], got shape {list(a.shape)}")
    for name, t in (("b_q_weight", b_q_weight), ("b_gptq_qzeros", b_gptq_qzeros)):
        _check(t.dtype == torch.int32, op, f"{name} must have dtype Int, got {t.dtype}")
        _check(t.dim() == 2, op, f"{name} must be 2-D, got shape {list(t.shape)}")
    _check(b_gptq_scales.dtype == a.dtype, op, f"b_gptq_scales must have the dtype of a ({a.dtype}), got "
           f"{b_gptq_scales.dtype}")
    _check(b_q_weight.size(0) * 32 == a.size(1) * bit, op,
           f"b_q_weight must have K * bit / 32 = {a.size(1) * bit // 32} rows, got shape {list(b_q_weight.shape)}")
    return a.new_empty((a.size(0), b_q_weight.size(1)))


def _check_awq_weights(op, qweight, scales, qzeros):
    for name, t in (("_kernel", qweight), ("_zeros", qzeros)):
        _check(t.dtype == torch.int32, op, f"{name} must have dtype Int, got {t.dtype}")
        _check(t.dim() == 2, op, f"{name} must be 2-D, got shape {list(t.shape)}")
    _check(scales.dtype in (torch.float16, torch.bfloat16), op,
           f"_scaling_factors must have dtype Half or BFloat16, got {scales.dtype}")
    _check(scales.dim() == 2 and scales.size(1) == qweight.size(1) * 8, op,
           f"_scaling_factors must be [groups, N = {qweight.size(1) * 8}], got shape {list(scales.shape)}")


def _awq_dequantize(qweight, scales, qzeros, split_k_iters, thx, thy):
    _check_awq_weights("awq_dequantize", qweight, scales, qzeros)
    return scales.new_empty((qweight.size(0), qweight.size(1) * 8))


def _awq_gemm(in_feats, qweight, scales, qzeros, split_k_iters):
    op = "awq_gemm"
    _check_awq_weights(op, qweight, scales, qzeros)
    _check(in_feats.dtype == scales.dtype, op,
           f"_in_feats must have the dtype of _scaling_factors ({scales.dtype}), got {in_feats.dtype}")
    _check(in_feats.dim() == 2 and in_feats.size(1) == qweight.size(0), op,
           f"_in_feats must be 2-D [M, K = {qweight.size(0)}], got shape {list(in_feats.shape)}")
    return in_feats.new_empty((in_feats.size(0), qweight.size(1) * 8))


def _permute_cols(A, perm):
    op = "permute_cols"
    _check(A.dtype in (torch.float16, torch.bfloat16), op, f"A must have dtype Half or BFloat16, got {A.dtype}")
    _check(A.dim() == 2, op, f"A must be 2-D [M, K], got shape {list(A.shape)}")
    _check(perm.dtype == torch.int32, op, f"perm must have dtype Int, got {perm.dtype}")
    _check(perm.dim() == 1 and perm.size(0) == A.size(1), op,
           f"perm must be 1-D of length K = {A.size(1)}, got shape {list(perm.shape)}")
    return torch.empty_like(A, memory_format=torch.contiguous_format)


def _scaled_fp4_quant(input, input_scale, is_sf_swizzled_layout):
    op = "scaled_fp4_quant"
    _check(input.dtype in (torch.float16, torch.bfloat16), op,
           f"input must have dtype Half or BFloat16, got {input.dtype}")
    _check(input.dim() == 2 and input.size(1) % 16 == 0, op,
           f"input must be 2-D [m, n] with n a multiple of 16, got shape {list(input.shape)}")
    _check(input_scale.dtype == torch.float32, op, f"input_scale must have dtype Float, got {input_scale.dtype}")
    from .fp4 import scale_buffer  # noqa: PLC0415  (fp4 imports the loaded namespace)

    m, n = input.shape
    shape, dtype = scale_buffer(m, n, is_sf_swizzled_layout)
    return input.new_empty((m, n // 2), dtype=torch.uint8), input.new_empty(shape, dtype=dtype)


_RETURNING = {
    "scaled_fp4_quant": _scaled_fp4_quant,
    "awq_dequantize": _awq_dequantize,
    "awq_gemm": _awq_gemm,
    "permute_cols": _permute_cols,
    "gptq_gemm": _gptq_gemm,
    "ggml_dequantize": _ggml_dequantize,
    "ggml_mul_mat_vec_a8": _ggml_matmul("ggml_mul_mat_vec_a8"),
    "ggml_mul_mat_a8": _ggml_matmul("ggml_mul_mat_a8"),
    "ggml_moe_a8": _ggml_moe_a8,
    "ggml_moe_a8_vec": _ggml_moe_a8_vec,
}
