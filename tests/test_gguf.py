"""GGUF ops against independent references: the `gguf` package's dequantizer (the format's Python
reference), pure-torch matmuls over it, a per-expert loop for MoE, and CPU against CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

gguf = pytest.importorskip("gguf", reason="tests/test_gguf.py needs the gguf package (env.yaml pins it)")
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType  # noqa: E402
from gguf.quants import dequantize as gguf_dequantize  # noqa: E402
from gguf.quants import quantize as gguf_quantize  # noqa: E402

import vllm_ops  # noqa: E402

ops = getattr(torch.ops, vllm_ops.namespace)

FLOAT_TYPES = ["F32", "F16", "BF16"]
QUANT_TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ1_S", "IQ1_M",
               "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ4_NL", "IQ4_XS", "MXFP4"]
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
# Unit roundoff of each dtype: one rounding of a value to it moves it by at most this, relative.
UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}


def type_id(name: str) -> int:
    return int(GGMLQuantizationType[name])


def random_blocks(name: str, rows: int, cols: int, seed: int = 0, max_abs: float = 1e4) -> np.ndarray:
    """Random bytes of rows x cols elements of `name`, every block redrawn until the reference
    decodes it to finite values of moderate size (random fp16 scale fields can be inf/NaN/huge)."""
    rng = np.random.default_rng(seed)
    qtype = GGMLQuantizationType[name]
    elems, nbytes = GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(rows * cols // elems, nbytes), dtype=np.uint8)
    for _ in range(100):
        with np.errstate(all="ignore"):
            values = gguf_dequantize(blocks.reshape(-1), qtype).reshape(blocks.shape[0], elems)
        bad = ~(np.isfinite(values) & (np.abs(values) <= max_abs)).all(axis=1)
        if not bad.any():
            return blocks.reshape(rows, -1)
        blocks[bad] = rng.integers(0, 256, size=(int(bad.sum()), nbytes), dtype=np.uint8)
    raise AssertionError(f"could not draw finite {name} blocks")


def reference_dequant(raw: np.ndarray, name: str, rows: int, cols: int) -> torch.Tensor:
    values = gguf_dequantize(raw.reshape(-1), GGMLQuantizationType[name]).astype(np.float32)
    return torch.from_numpy(values).reshape(rows, cols)


# --------------------------------------------------------------------------------------------
# Dequantization


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", FLOAT_TYPES + QUANT_TYPES)
def test_dequantize_matches_gguf(name, dtype):
    # Every format's decode is exact in fp32 or rounds in the reference's own order, so fp32 output
    # equals the reference bit for bit; fp16/bf16 output is that value rounded once.
    rows, cols = 6, 512
    raw = random_blocks(name, rows, cols, seed=hash(name) % 1000)
    ref = reference_dequant(raw, name, rows, cols)
    out = ops.ggml_dequantize(torch.from_numpy(raw), type_id(name), rows, cols, dtype)
    assert out.shape == (rows, cols) and out.dtype == dtype
    torch.testing.assert_close(out, ref.to(dtype), rtol=0, atol=0)


def test_dequantize_default_dtype_is_half():
    raw = random_blocks("Q4_K", 2, 256)
    assert ops.ggml_dequantize(torch.from_numpy(raw), type_id("Q4_K"), 2, 256, None).dtype == torch.float16


@pytest.mark.parametrize("name", ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "MXFP4"])
def test_real_gguf_file_roundtrip(tmp_path, name):
    # Weights quantized by the gguf package, written to a .gguf file, read back, dequantized here.
    qtype = GGMLQuantizationType[name]
    rows, cols = 8, 256
    weights = np.random.default_rng(3).standard_normal((rows, cols)).astype(np.float32)
    path = tmp_path / "model.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("w", gguf_quantize(weights, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tensor = gguf.GGUFReader(str(path)).tensors[0]
    assert tensor.tensor_type == qtype
    raw = np.ascontiguousarray(np.asarray(tensor.data).view(np.uint8)).reshape(rows, -1)
    out = ops.ggml_dequantize(torch.from_numpy(raw.copy()), int(qtype), rows, cols, torch.float32)
    torch.testing.assert_close(out, reference_dequant(raw, name, rows, cols), rtol=0, atol=0)
    # and the quantization error is what the format allows (a sanity check that the bytes are weights)
    assert (out - torch.from_numpy(weights)).abs().max() < 0.3 * np.abs(weights).max()


# --------------------------------------------------------------------------------------------
# Matmuls


def matmul_tolerance(X: torch.Tensor, Wd: torch.Tensor, out_dtype: torch.dtype) -> torch.Tensor:
    """Bound on |ours - X @ Wd.T| (float64 reference on the decoded weights).

    Each 32-element run of a row of X is quantized to codes c = rint(x / s), s = max|x| / 127,
    so |x - s c| <= s / 2 = max|x| / 254 per element; the integer sums are exact. Output element
    (t, n) is then off by at most sum_k |Wd[n, k]| max|x|_run(t, k) / 254. The dequantize-and-GEMM
    path instead rounds each decoded weight once to X's dtype (relative u_in). Both accumulate
    in fp32 and round the result once to the output dtype (u_out)."""
    Xd, Wd = X.double(), Wd.double()
    run_max = X.abs().double().view(X.shape[0], -1, 32).amax(-1).repeat_interleave(32, -1)
    q8 = (run_max / 254) @ Wd.abs().T
    magnitude = Xd.abs() @ Wd.abs().T
    u_in = UNIT_ROUNDOFF[X.dtype]
    return 1.001 * q8 + (u_in + 64 * 2.0**-24) * magnitude + UNIT_ROUNDOFF[out_dtype] * (Xd @ Wd.T).abs() + 1e-6


def assert_within(out: torch.Tensor, ref: torch.Tensor, tol: torch.Tensor):
    err = (out.double().cpu() - ref.cpu()).abs()
    worst = (err / tol.cpu()).max().item()
    assert worst <= 1.0, f"error reaches {worst:.3f} of the derived bound"


def make_matmul_case(name, tokens, k, n, dtype, device="cpu", seed=0):
    raw = random_blocks(name, n, k, seed=seed, max_abs=50)
    W = torch.from_numpy(raw).to(device)
    Wd = reference_dequant(raw, name, n, k)
    X = torch.randn(tokens, k, generator=torch.Generator().manual_seed(seed)).to(dtype).to(device)
    return W, Wd, X


@pytest.mark.parametrize("tokens", [1, 3, 8, 20])
@pytest.mark.parametrize("name", QUANT_TYPES)
def test_matmuls_match_reference(name, tokens):
    dtype = torch.float32
    W, Wd, X = make_matmul_case(name, tokens, 512, 48, dtype)
    ref = X.double() @ Wd.double().T
    tol = matmul_tolerance(X, Wd, dtype)
    for op in (ops.ggml_mul_mat_vec_a8, ops.ggml_mul_mat_a8):
        out = op(W, X, type_id(name), 48)
        assert out.shape == (tokens, 48) and out.dtype == dtype
        assert_within(out, ref, tol)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", ["Q4_0", "Q4_K", "Q6_K", "IQ2_XS", "MXFP4"])
def test_matmuls_half_dtypes(name, dtype):
    for tokens in (2, 16):
        W, Wd, X = make_matmul_case(name, tokens, 256, 32, dtype, seed=tokens)
        out = ops.ggml_mul_mat_a8(W, X, type_id(name), 32)
        assert out.dtype == dtype
        assert_within(out, X.double() @ Wd.double().T, matmul_tolerance(X, Wd, dtype))


def test_tolerance_catches_a_wrong_weight():
    # The bound is tight enough to see one decoded weight off by one quantization step.
    W, Wd, X = make_matmul_case("Q8_0", 4, 256, 8, torch.float32)
    out = ops.ggml_mul_mat_vec_a8(W, X, type_id("Q8_0"), 8)
    wrong = Wd.clone()
    wrong[3, 17] += Wd[3].abs().max()
    with pytest.raises(AssertionError):
        assert_within(out, X.double() @ wrong.double().T, matmul_tolerance(X, Wd, torch.float32))


# --------------------------------------------------------------------------------------------
# MoE


def align_block_size(topk_ids: torch.Tensor, block: int, experts: int):
    """vLLM's moe_align_block_size, in pure torch: flat (token, k) indices grouped by expert,
    each expert's run padded to a multiple of `block` with the value topk_ids.numel()."""
    flat = topk_ids.flatten().tolist()
    pad = len(flat)
    sorted_ids, expert_ids = [], []
    for e in range(experts):
        ids = [i for i, x in enumerate(flat) if x == e]
        if not ids:
            continue
        ids += [pad] * (-len(ids) % block)
        sorted_ids += ids
        expert_ids += [e] * (len(ids) // block)
    total = len(sorted_ids)
    sorted_ids += [pad] * block  # trailing capacity past num_tokens_post_padded, as vLLM allocates
    expert_ids += [0]
    as_int = lambda v: torch.tensor(v, dtype=torch.int32)  # noqa: E731
    return as_int(sorted_ids), as_int(expert_ids), as_int([total])


def make_moe_case(name, tokens, top_k, experts, k, n, dtype=torch.float32, device="cpu", seed=0):
    raws = [random_blocks(name, n, k, seed=seed + e, max_abs=50) for e in range(experts)]
    W = torch.from_numpy(np.stack(raws)).to(device)
    Wd = torch.stack([reference_dequant(r, name, n, k) for r in raws])
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(tokens, k, generator=gen).to(dtype)
    topk_ids = torch.stack([torch.randperm(experts, generator=gen)[:top_k] for _ in range(tokens)]).to(torch.int32)
    return W, Wd, X.to(device), topk_ids.to(device)


def moe_reference(X, Wd, topk_ids, top_k):
    rows = []
    for p, e in enumerate(topk_ids.flatten().tolist()):
        rows.append(X[p // top_k].double() @ Wd[e].double().T)
    return torch.stack(rows)


def moe_tolerance(X, Wd, topk_ids, top_k, dtype):
    return torch.stack([matmul_tolerance(X[p // top_k: p // top_k + 1], Wd[e], dtype)[0]
                        for p, e in enumerate(topk_ids.flatten().tolist())])


def check_moe_ops(name, device, tokens, top_k, experts, k, n, dtype=torch.float32):
    """Both MoE ops on `device` against the per-expert loop (routing built on the CPU)."""
    W, Wd, X, topk_ids = make_moe_case(name, tokens, top_k, experts, k, n, dtype)
    ref = moe_reference(X, Wd, topk_ids, top_k)
    tol = moe_tolerance(X, Wd, topk_ids, top_k, X.dtype)
    W, X = W.to(device), X.to(device)
    out = ops.ggml_moe_a8_vec(X, W, topk_ids.to(device), top_k, type_id(name), n, tokens)
    assert out.shape == (tokens * top_k, n) and out.device == X.device
    assert_within(out, ref, tol)
    block = ops.ggml_moe_get_block_size(type_id(name))
    routing = (t.to(device) for t in align_block_size(topk_ids, block, experts))
    out = ops.ggml_moe_a8(X, W, *routing, type_id(name), n, top_k, tokens)
    assert_within(out, ref, tol)


@pytest.mark.parametrize("name", QUANT_TYPES)
def test_moe_ops_match_per_expert_loop(name):
    check_moe_ops(name, "cpu", tokens=5, top_k=2, experts=4, k=256, n=24)


# --------------------------------------------------------------------------------------------
# opcheck, torch.compile, wrappers


def opcheck_cases(device):
    W, _, X = make_matmul_case("Q4_K", 3, 256, 16, torch.float16, device)
    Wm, _, Xm, topk = make_moe_case("Q4_K", 3, 2, 3, 256, 16, torch.float16, device)
    q4k = type_id("Q4_K")
    block = ops.ggml_moe_get_block_size(q4k)
    sorted_ids, expert_ids, post = (t.to(device) for t in align_block_size(topk.cpu(), block, 3))
    return [
        (ops.ggml_dequantize.default, (W, q4k, 16, 256, torch.float16)),
        (ops.ggml_dequantize.default, (W, q4k, 16, 256, None)),
        (ops.ggml_mul_mat_vec_a8.default, (W, X, q4k, 16)),
        (ops.ggml_mul_mat_a8.default, (W, X, q4k, 16)),
        (ops.ggml_moe_a8.default, (Xm, Wm, sorted_ids, expert_ids, post, q4k, 16, 2, 3)),
        (ops.ggml_moe_a8_vec.default, (Xm, Wm, topk, 2, q4k, 16, 3)),
    ]


@pytest.mark.parametrize("case", range(6))
def test_opcheck(case):
    op, args = opcheck_cases("cpu")[case]
    torch.library.opcheck(op, args)


def test_block_size_op():
    assert ops.ggml_moe_get_block_size(type_id("Q4_K")) == vllm_ops.ggml_moe_get_block_size(type_id("Q4_K")) >= 1
    with pytest.raises(RuntimeError, match="ggml_moe_get_block_size: type must be a quantized GGML type, got F16"):
        ops.ggml_moe_get_block_size(type_id("F16"))


def test_torch_compile_fullgraph():
    W, Wd, X = make_matmul_case("Q5_K", 2, 256, 16, torch.float32)

    @torch.compile(fullgraph=True, backend="aot_eager")
    def f(W, X):
        y = vllm_ops.ggml_mul_mat_a8(W, X, type_id("Q5_K"), 16)
        return y + vllm_ops.ggml_dequantize(W, type_id("Q5_K"), 16, 256, torch.float32).sum()

    expected = vllm_ops.ggml_mul_mat_a8(W, X, type_id("Q5_K"), 16) + Wd.sum()
    torch.testing.assert_close(f(W, X), expected, rtol=1e-5, atol=1e-3)


# --------------------------------------------------------------------------------------------
# Bad input: clear errors naming the argument


def bad_input_cases(device):
    W, _, X = make_matmul_case("Q4_0", 2, 64, 4, torch.float32, device)
    Wm, _, Xm, topk = make_moe_case("Q4_0", 2, 1, 2, 64, 4, torch.float32, device)
    s, e, p = (t.to(device) for t in align_block_size(topk.cpu(), 8, 2))
    q40 = type_id("Q4_0")
    return [
        (lambda: ops.ggml_dequantize(W.float(), q40, 4, 64, None), "ggml_dequantize: W must have dtype Byte"),
        (lambda: ops.ggml_dequantize(W, q40, 4, 96, None), "ggml_dequantize: W must hold m \\* 54 = 216 bytes"),
        (lambda: ops.ggml_dequantize(W, q40, 4, 48, None), "n must be a multiple of 32 \\(the block size of Q4_0\\)"),
        (lambda: ops.ggml_dequantize(W, 4, 4, 64, None), "type must be a supported GGML type id, got 4"),
        (lambda: ops.ggml_dequantize(W, 99, 4, 64, None), "type must be a supported GGML type id, got 99"),
        (lambda: ops.ggml_dequantize(W, q40, -1, 64, None), "m and n must be >= 0"),
        (lambda: ops.ggml_dequantize(W, q40, 4, 64, torch.int32), "dtype must be Float, Half or BFloat16"),
        (lambda: ops.ggml_dequantize(W.view(-1)[1:37], q40, 2, 32, None), "W must start on a 2-byte boundary"),
        (lambda: ops.ggml_mul_mat_vec_a8(W, X, type_id("F16"), 4), "type must be a quantized GGML type, got F16"),
        (lambda: ops.ggml_mul_mat_vec_a8(W, X[:, :32].contiguous(), q40, 4), "W.size\\(1\\) must be 18 bytes"),
        (lambda: ops.ggml_mul_mat_a8(W, X[:, :48].contiguous(), q40, 4), "X.size\\(1\\) must be a multiple of 32"),
        (lambda: ops.ggml_mul_mat_a8(W, X.to(torch.int32), q40, 4), "X must have dtype Float or Half or BFloat16"),
        (lambda: ops.ggml_mul_mat_a8(W, X.t(), q40, 4), "X must be 2-D|X must be contiguous"),
        (lambda: ops.ggml_mul_mat_a8(W, X, q40, 5), "row must equal W.size\\(0\\) = 4, got 5"),
        (lambda: ops.ggml_moe_a8_vec(Xm, Wm, topk.long(), 1, q40, 4, 2), "topk_ids must have dtype Int"),
        (lambda: ops.ggml_moe_a8_vec(Xm, Wm, topk[:1], 1, q40, 4, 2), "topk_ids must hold tokens \\* top_k = 2"),
        (lambda: ops.ggml_moe_a8_vec(Xm, Wm, topk, 1, q40, 4, 3), "tokens must equal X.size\\(0\\) = 2, got 3"),
        (lambda: ops.ggml_moe_a8(Xm, Wm, s, e[:0], p, q40, 4, 1, 2), "expert_ids must have one entry per block"),
        (lambda: ops.ggml_moe_a8(Xm, Wm, s, e, p.long(), q40, 4, 1, 2), "num_tokens_post_padded must have dtype Int"),
        (lambda: ops.ggml_moe_a8(Xm, W, s, e, p, q40, 4, 1, 2), "W must be 3-D"),
    ]


@pytest.mark.parametrize("case", range(20))
def test_bad_input_is_a_clear_error(case):
    fn, message = bad_input_cases("cpu")[case]
    with pytest.raises(RuntimeError, match=message):
        fn()


def test_bad_routing_values_are_errors_on_cpu():
    Wm, _, Xm, topk = make_moe_case("Q4_0", 2, 1, 2, 64, 4)
    with pytest.raises(RuntimeError, match="ggml_moe_a8_vec: topk_ids must be in \\[0, 2\\), got 7"):
        ops.ggml_moe_a8_vec(Xm, Wm, torch.tensor([[7], [0]], dtype=torch.int32), 1, type_id("Q4_0"), 4, 2)
    s, e, p = align_block_size(topk, 8, 2)
    with pytest.raises(RuntimeError, match="ggml_moe_a8: expert_ids must be in \\[0, 2\\), got -3"):
        ops.ggml_moe_a8(Xm, Wm, s, torch.full_like(e, -3), p, type_id("Q4_0"), 4, 1, 2)


def test_meta_tensor_among_cpu_is_an_error():
    W, _, X = make_matmul_case("Q4_0", 2, 64, 4, torch.float32)
    with pytest.raises(RuntimeError, match="X must be on the device of W"):
        ops.ggml_mul_mat_a8(W, X.to("meta"), type_id("Q4_0"), 4)


# --------------------------------------------------------------------------------------------
# CUDA: the same suite's numerics on the GPU, and CPU against CUDA on the same inputs


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", FLOAT_TYPES + QUANT_TYPES)
def test_cuda_dequantize_matches_gguf(name, dtype):
    rows, cols = 64, 1024
    raw = random_blocks(name, rows, cols, seed=7)
    out = ops.ggml_dequantize(torch.from_numpy(raw).cuda(), type_id(name), rows, cols, dtype)
    torch.testing.assert_close(out.cpu(), reference_dequant(raw, name, rows, cols).to(dtype), rtol=0, atol=0)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", QUANT_TYPES)
def test_cuda_matmuls_match_reference_and_cpu(name, dtype):
    for tokens in (1, 2, 5, 8, 13, 64):
        W, Wd, X = make_matmul_case(name, tokens, 1024, 72, dtype, seed=tokens)
        ref = X.double() @ Wd.double().T
        tol = matmul_tolerance(X, Wd, dtype)
        for op in (ops.ggml_mul_mat_vec_a8, ops.ggml_mul_mat_a8):
            gpu = op(W.cuda(), X.cuda(), type_id(name), 72)
            assert gpu.dtype == dtype and gpu.is_cuda
            assert_within(gpu, ref, tol)
        cpu = ops.ggml_mul_mat_vec_a8(W, X, type_id(name), 72)
        gpu = ops.ggml_mul_mat_vec_a8(W.cuda(), X.cuda(), type_id(name), 72)
        # Same codes and exact integer sums on both: only fp32 summation order differs.
        torch.testing.assert_close(gpu.cpu().float(), cpu.float(), rtol=4 * UNIT_ROUNDOFF[dtype], atol=1e-3)


def fused_tolerance(X: torch.Tensor, Wq: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Bound on |ours - X @ Wq.T| where Wq is ggml_dequantize's output in X's dtype, i.e. the
    weights exactly as the fused kernel rounds them: the products of two 16-bit floats are exact
    in fp32, so only the fp32 additions (at most K of them, relative 2^-24 each on the running
    magnitude) and the final rounding to X's dtype remain."""
    magnitude = X.double().abs() @ Wq.double().abs().T
    return X.shape[1] * 2.0**-24 * magnitude + UNIT_ROUNDOFF[X.dtype] * ref.abs() + 1e-30


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", QUANT_TYPES)
def test_cuda_fused_matmul_equals_dequantized_product(name, dtype):
    # ggml_mul_mat_a8 with 16-bit X takes the fused kernel from 8 to 63 tokens (gguf_ops_gpu.cu),
    # and ggml_moe_a8 from 8 routed entries; over one expert with every token routed to it, its
    # sorted blocks are dense groups of 64, so it runs the kernel at any token count. The result is
    # the product with ggml_dequantize's weights up to fp32 addition order, a bound far tighter
    # than the 8-bit activation path's. K = 2304: nine 256-element steps over the warps' K slices
    # (uneven); n = 40: a partial 16-row tile; W starts one row in, so rows begin at any byte
    # offset; 9-63 tokens: partial n8 tiles; 65 and 130: several groups of 64.
    k, n = 2304, 40
    W, _, X = make_matmul_case(name, 130, k, n + 1, dtype, seed=7)
    W = W[1:].cuda()
    Wq = ops.ggml_dequantize(W, type_id(name), n, k, dtype).cpu()
    for tokens in (8, 9, 33, 63, 65, 130):
        x = X[:tokens]
        ref = x.double() @ Wq.double().T
        if tokens < 64:
            out = ops.ggml_mul_mat_a8(W, x.cuda(), type_id(name), n)
        else:
            block = ops.ggml_moe_get_block_size(type_id(name))
            routing = (t.cuda() for t in align_block_size(torch.zeros(tokens, 1, dtype=torch.int32), block, 1))
            out = ops.ggml_moe_a8(x.cuda(), W.unsqueeze(0), *routing, type_id(name), n, 1, tokens)
        assert out.dtype == dtype and out.shape == (tokens, n)
        assert_within(out, ref, fused_tolerance(x, Wq, ref))


@pytest.mark.cuda
def test_cuda_fused_tolerance_catches_a_wrong_weight():
    # The fused bound sees one weight of 2304 off by a tenth of the row's largest.
    k, n = 2304, 16
    W, _, X = make_matmul_case("Q4_K", 16, k, n, torch.float16, seed=3)
    Wq = ops.ggml_dequantize(W.cuda(), type_id("Q4_K"), n, k, torch.float16).cpu()
    out = ops.ggml_mul_mat_a8(W.cuda(), X.cuda(), type_id("Q4_K"), n)
    wrong = Wq.double()
    wrong[5, 1000] += 0.1 * wrong[5].abs().max()
    ref = X.double() @ wrong.T
    with pytest.raises(AssertionError):
        assert_within(out, ref, fused_tolerance(X, Wq, ref))


@pytest.mark.cuda
def test_cuda_unaligned_half_x_takes_the_integer_path():
    # X's start 2 bytes past a 16-byte boundary: the fused kernel's 16-byte loads cannot take it,
    # so the op falls back to the 8-bit path (and its bound), with the same answer.
    W, Wd, X = make_matmul_case("Q4_0", 16, 512, 24, torch.float16)
    flat = torch.empty(X.numel() + 1, dtype=X.dtype, device="cuda")
    x = flat[1:].view_as(X).copy_(X.cuda())
    assert x.data_ptr() % 16 != 0 and x.is_contiguous()
    out = ops.ggml_mul_mat_a8(W.cuda(), x, type_id("Q4_0"), 24)
    assert_within(out, X.double() @ Wd.double().T, matmul_tolerance(X, Wd, torch.float16))


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", QUANT_TYPES)
def test_cuda_moe_half_dtypes_match_per_expert_loop(name, dtype):
    # 16-bit X takes the fused kernel in ggml_moe_a8 (one group per sorted block of 64); 1 token
    # routes 2 entries, 37 tokens put up to 17 in a block, 150 fill some blocks past one n8 tile.
    for tokens in (1, 37, 150):
        check_moe_ops(name, "cuda", tokens=tokens, top_k=2, experts=8, k=512, n=40, dtype=dtype)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_cuda_moe_skewed_routing_takes_several_passes(dtype):
    # The fused kernel sizes its token tiles for routed / experts entries per block (16 here) and
    # walks the weights again for a block holding more: every token routed to experts 0 and 1
    # puts 37 entries in each of their blocks (3 passes), and the other 6 experts get none.
    name, tokens, top_k, experts, k, n = "Q4_K", 37, 2, 8, 512, 40
    W, Wd, X, _ = make_moe_case(name, tokens, top_k, experts, k, n, dtype)
    topk_ids = torch.tensor([[0, 1]] * tokens, dtype=torch.int32)
    ref = moe_reference(X, Wd, topk_ids, top_k)
    block = ops.ggml_moe_get_block_size(type_id(name))
    routing = (t.cuda() for t in align_block_size(topk_ids, block, experts))
    out = ops.ggml_moe_a8(X.cuda(), W.cuda(), *routing, type_id(name), n, top_k, tokens)
    assert_within(out, ref, moe_tolerance(X, Wd, topk_ids, top_k, dtype))


@pytest.mark.cuda
@pytest.mark.parametrize("name", QUANT_TYPES)
def test_cuda_weight_rows_at_any_byte_offset(name):
    # The GPU kernels stage W through 16-byte loads covering each step's bytes. K = 2304 spans one
    # full 2048-element step of the mat-vec plus a partial one, and its rows are 16-byte aligned
    # for some types and not for others (Q2_K: 756 bytes); dropping the first row of W shifts the
    # start by one row as well.
    k, n = 2304, 9
    W, Wd, X = make_matmul_case(name, 8, k, n + 1, torch.float32, seed=5)
    W, Wd = W[1:].cuda(), Wd[1:]
    assert W.is_contiguous()
    out = ops.ggml_dequantize(W, type_id(name), n, k, torch.float32)
    torch.testing.assert_close(out.cpu(), Wd, rtol=0, atol=0)
    for tokens in (1, 4, 8):
        x = X[:tokens]
        got = ops.ggml_mul_mat_vec_a8(W, x.cuda(), type_id(name), n)
        assert_within(got, x.double() @ Wd.double().T, matmul_tolerance(x, Wd, torch.float32))


@pytest.mark.cuda
@pytest.mark.parametrize("name", FLOAT_TYPES)
def test_cuda_float_dequantize_any_length_and_offset(name):
    # 16 elements per thread, the last numel % 16 one by one; the view starts an odd row in.
    rows, cols = 8, 37
    raw = random_blocks(name, rows, cols, seed=3)
    W = torch.from_numpy(raw).cuda()[1:]
    out = ops.ggml_dequantize(W, type_id(name), rows - 1, cols, torch.float32)
    torch.testing.assert_close(out.cpu(), reference_dequant(raw, name, rows, cols)[1:], rtol=0, atol=0)


@pytest.mark.cuda
@pytest.mark.parametrize("name", QUANT_TYPES)
def test_cuda_moe_matches_per_expert_loop(name):
    check_moe_ops(name, "cuda", tokens=37, top_k=2, experts=8, k=512, n=40)


@pytest.mark.cuda
@pytest.mark.parametrize("case", range(6))
def test_cuda_opcheck(case):
    op, args = opcheck_cases("cuda")[case]
    torch.library.opcheck(op, args)


@pytest.mark.cuda
@pytest.mark.parametrize("case", range(20))
def test_cuda_bad_input_is_a_clear_error(case):
    fn, message = bad_input_cases("cuda")[case]
    with pytest.raises(RuntimeError, match=message):
        fn()


@pytest.mark.cuda
def test_cuda_cpu_tensor_among_cuda_is_an_error():
    W, _, X = make_matmul_case("Q4_0", 2, 64, 4, torch.float32)
    with pytest.raises(RuntimeError, match="X must be on the device of W"):
        ops.ggml_mul_mat_a8(W.cuda(), X, type_id("Q4_0"), 4)
    Wm, _, Xm, topk = make_moe_case("Q4_0", 2, 1, 2, 64, 4)
    with pytest.raises(RuntimeError, match="topk_ids must be on the device of X"):
        ops.ggml_moe_a8_vec(Xm.cuda(), Wm.cuda(), topk, 1, type_id("Q4_0"), 4, 2)


@pytest.mark.cuda
def test_cuda_dequantize_beyond_2_31_elements():
    # 65,600 rows of 32,768 Q4_0 elements: 2.15e9 outputs, past every 32-bit index.
    rows, cols = 65_600, 32_768
    row_bytes = cols // 32 * 18
    pattern = torch.from_numpy(random_blocks("Q4_0", 64, cols, seed=11))
    W = pattern.cuda().repeat(rows // 64 + 1, 1)[:rows].contiguous()
    assert rows * cols > 2**31
    out = ops.ggml_dequantize(W, type_id("Q4_0"), rows, cols, torch.float16)
    ref = reference_dequant(pattern.numpy(), "Q4_0", 64, cols).half()
    for r in (0, 1, rows // 2, rows - 1):
        torch.testing.assert_close(out[r].cpu(), ref[r % 64], rtol=0, atol=0)
    assert W.numel() == rows * row_bytes
