"""GPTQ ops against a pure-torch reference written from the checkpoint format: a quantizer and
packer that turn random weights into qweight/qzeros/scales/g_idx, an unpacker that reads them
back by a different route (bit planes), and float64 matmuls over the result; CPU against CUDA."""

from __future__ import annotations

import itertools

import pytest
import torch

import vllm_ops

ops = getattr(torch.ops, vllm_ops.namespace)

BITS = [2, 3, 4, 8]
DTYPES = [torch.float16, torch.bfloat16]
UNIT_ROUNDOFF = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}
EMPTY = torch.empty(0, dtype=torch.int32)


# --------------------------------------------------------------------------------------------
# Reference: the format from its definition


def pack_stream(values: torch.Tensor, bits: int) -> torch.Tensor:
    """Values [..., L] (0 <= v < 2^bits, L % 32 == 0) -> int32 words [..., L * bits / 32]: value i
    at bits [i * bits, (i + 1) * bits) of the little-endian stream of words."""
    *lead, length = values.shape
    v = values.to(torch.int64)
    words = torch.zeros(*lead, length * bits // 32, dtype=torch.int64)
    for i in range(length):
        bit = i * bits
        word, shift = divmod(bit, 32)
        words[..., word] |= (v[..., i] << shift) & 0xFFFFFFFF
        if shift + bits > 32:
            words[..., word + 1] |= v[..., i] >> (32 - shift)
    return torch.where(words >= 2**31, words - 2**32, words).to(torch.int32)


def unpack_stream(words: torch.Tensor, bits: int) -> torch.Tensor:
    """Inverse of pack_stream by another route: the words as one plane of bits, regrouped."""
    *lead, count = words.shape
    planes = (words.to(torch.int64).unsqueeze(-1) >> torch.arange(32)) & 1  # [..., count, 32], LSB first
    planes = planes.reshape(*lead, count * 32 // bits, bits)
    return (planes << torch.arange(bits)).sum(-1)


class Checkpoint:
    """Random weights [K, N] quantized to GPTQ: per (group, column) scale and zero from the
    group's range; act-order assigns rows to groups in a random order (g_idx)."""

    def __init__(self, k, n, bits, group_size, act_order, v2, dtype=torch.float16, seed=0):
        gen = torch.Generator().manual_seed(seed)
        gs = k if group_size == -1 else group_size
        groups, maxq = k // gs, 2**bits - 1
        weights = torch.randn(k, n, generator=gen)
        order = torch.randperm(k, generator=gen) if act_order else torch.arange(k)
        g_idx = torch.empty(k, dtype=torch.int32)
        g_idx[order] = (torch.arange(k) // gs).to(torch.int32)  # the i-th row quantized joins group i // gs
        lo = torch.stack([weights[g_idx == g].amin(0) for g in range(groups)]).clamp(max=0)
        hi = torch.stack([weights[g_idx == g].amax(0) for g in range(groups)]).clamp(min=0)
        scales = ((hi - lo) / maxq).clamp(min=1e-4).to(dtype)
        zeros = (-lo / scales.float()).round().clamp(1 if not v2 else 0, maxq).to(torch.int64)
        q = (weights / scales.float()[g_idx.long()]).round() + zeros[g_idx.long()]
        q = q.clamp(0, maxq).to(torch.int64)
        stored = zeros - (0 if v2 else 1)  # v1 checkpoints store zero - 1
        self.bits, self.v2, self.dtype, self.k, self.n, self.groups = bits, v2, dtype, k, n, groups
        self.qweight = pack_stream(q.T.contiguous(), bits).T.contiguous()  # packed along K
        self.qzeros = pack_stream(stored, bits)  # packed along N
        self.scales = scales
        self.g_idx = g_idx if act_order else EMPTY
        self.row_groups = g_idx
        self.act_order = act_order

    def dequant(self) -> torch.Tensor:
        """float64 [K, N] from the packed tensors (not from the quantizer's intermediates)."""
        q = unpack_stream(self.qweight.T.contiguous(), self.bits).T
        zeros = unpack_stream(self.qzeros, self.bits) + (0 if self.v2 else 1)
        g = self.row_groups.long()
        return self.scales.double()[g] * (q - zeros[g]).double()

    def shuffled(self, device="cpu"):
        """(qweight after gptq_shuffle, q_perm) as vLLM prepares them for use_exllama=True."""
        perm = torch.argsort(self.g_idx).to(torch.int32) if self.act_order else EMPTY
        qweight = self.qweight.to(device).clone()
        ops.gptq_shuffle(qweight, perm.to(device), self.bits)
        return qweight, perm.to(device)

    def args(self, device="cpu"):
        return self.qweight.to(device), self.qzeros.to(device), self.scales.to(device), self.g_idx.to(device)


def gemm_tolerance(a: torch.Tensor, w: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Bound on |ours - a @ w| (float64 reference on the exact weights). Each weight is rounded
    once to a's dtype (relative u), products and sums are fp32 (at most K roundings of 2^-24 each,
    relative to sum |a||w|), the result is rounded once (u). A cuBLAS GEMM may round split-K
    partial sums to the output dtype (torch allows reduced-precision reductions by default): one
    more u on sum |a||w|."""
    ad, wd = a.double(), w.double()
    u = UNIT_ROUNDOFF[dtype]
    magnitude = ad.abs() @ wd.abs()
    return (2 * u + a.shape[1] * 2.0**-24) * magnitude + u * (ad @ wd).abs() + 1e-6


def assert_within(out, ref, tol):
    err = (out.double().cpu() - ref).abs()
    worst = (err / tol).max().item()
    assert worst <= 1.0, f"error reaches {worst:.3f} of the derived bound"


def test_packer_matches_format_definition():
    # The 3-bit layout written out by hand: values 0..9 in word 0, value 10 straddles words 0-1,
    # value 21 straddles words 1-2 (32 values in three words).
    values = torch.arange(32) % 8
    words = pack_stream(values, 3).to(torch.int64) & 0xFFFFFFFF
    stream = sum(int(w) << (32 * j) for j, w in enumerate(words.tolist()))
    assert [(stream >> (3 * i)) & 7 for i in range(32)] == values.tolist()
    assert (int(words[0]) >> 30) | ((int(words[1]) & 1) << 2) == values[10]
    for bits in BITS:
        v = torch.randint(0, 2**bits, (3, 64))
        assert torch.equal(unpack_stream(pack_stream(v, bits), bits), v)


# --------------------------------------------------------------------------------------------
# Numerics on the CPU

CASES = list(itertools.product(BITS, [32, 128, -1], [False, True], [False, True]))


def case_id(case):
    bits, gs, act, v2 = case
    return f"{bits}bit-g{gs}-{'act' if act else 'seq'}-{'v2' if v2 else 'v1'}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gemm_matches_reference(case):
    bits, gs, act, v2 = case
    for dtype in DTYPES:
        ck = Checkpoint(256, 64, bits, gs, act, v2, dtype, seed=bits)
        a = torch.randn(5, 256, dtype=dtype)
        w = ck.dequant()
        ref = a.double() @ w
        tol = gemm_tolerance(a, w, dtype)
        plain = ops.gptq_gemm(a, *ck.args(), False, v2, bits)
        assert plain.dtype == dtype and plain.shape == (5, 64)
        assert_within(plain, ref, tol)
        qweight, perm = ck.shuffled()
        exllama = ops.gptq_gemm(a, qweight, ck.qzeros, ck.scales, perm, True, v2, bits)
        # The same weights rounded the same way and the same GEMM: bit-identical on the CPU.
        assert torch.equal(exllama, plain)


def test_plain_path_without_g_idx_uses_sequential_groups():
    ck = Checkpoint(256, 32, 4, 64, False, False, seed=5)
    a = torch.randn(2, 256, dtype=torch.float16)
    with_idx = ops.gptq_gemm(a, ck.qweight, ck.qzeros, ck.scales, ck.row_groups, False, False, 4)
    assert torch.equal(ops.gptq_gemm(a, *ck.args(), False, False, 4), with_idx)


@pytest.mark.parametrize("bits", BITS)
def test_shuffle_permutes_rows(bits):
    ck = Checkpoint(128, 32, bits, 32, True, False, seed=7)
    qweight, perm = ck.shuffled()
    rows = unpack_stream(ck.qweight.T.contiguous(), bits).T
    assert torch.equal(unpack_stream(qweight.T.contiguous(), bits).T, rows[perm.long()])
    plain = ck.qweight.clone()
    ops.gptq_shuffle(plain, EMPTY, bits)  # no act-order: the stored layout is what the kernels read
    assert torch.equal(plain, ck.qweight)


def test_zero_rows_and_columns():
    ck = Checkpoint(64, 32, 4, 32, False, False)
    assert ops.gptq_gemm(torch.empty(0, 64, dtype=torch.float16), *ck.args(), False, False, 4).shape == (0, 32)


# --------------------------------------------------------------------------------------------
# opcheck, torch.compile


def opcheck_cases(device):
    ck = Checkpoint(128, 32, 4, 32, True, False)
    a = torch.randn(3, 128, dtype=torch.float16, device=device)
    qweight, perm = ck.shuffled(device)
    return [
        (ops.gptq_gemm.default, (a, *ck.args(device), False, False, 4)),
        (ops.gptq_gemm.default, (a, qweight, ck.qzeros.to(device), ck.scales.to(device), perm, True, False, 4)),
        (ops.gptq_shuffle.default, (ck.qweight.to(device).clone(), perm, 4)),
    ]


@pytest.mark.parametrize("case", range(3))
def test_opcheck(case):
    op, args = opcheck_cases("cpu")[case]
    torch.library.opcheck(op, args)


def test_torch_compile_fullgraph():
    ck = Checkpoint(128, 32, 8, 64, False, True, torch.bfloat16)
    a = torch.randn(2, 128, dtype=torch.bfloat16)

    @torch.compile(fullgraph=True, backend="aot_eager")
    def f(a, qweight, qzeros, scales, g_idx):
        return vllm_ops.gptq_gemm(a, qweight, qzeros, scales, g_idx, False, True, 8) * 2

    torch.testing.assert_close(f(a, *ck.args()), 2 * vllm_ops.gptq_gemm(a, *ck.args(), False, True, 8))


# --------------------------------------------------------------------------------------------
# Bad input: clear errors naming the argument


def bad_input_cases(device):
    ck = Checkpoint(128, 32, 4, 32, True, False)
    q, z, s, g = ck.args(device)
    a = torch.randn(2, 128, dtype=torch.float16, device=device)
    perm = torch.argsort(ck.g_idx).to(torch.int32).to(device)
    gemm = ops.gptq_gemm
    return [
        (lambda: gemm(a, q, z, s, g, False, False, 5), "gptq_gemm: bit must be 2, 3, 4 or 8, got 5"),
        (lambda: gemm(a.float(), q, z, s, g, False, False, 4), "gptq_gemm: a must have dtype Half or BFloat16"),
        (lambda: gemm(a, q, z, s.bfloat16(), g, False, False, 4), "b_gptq_scales must have the dtype of a"),
        (lambda: gemm(a, q.long(), z, s, g, False, False, 4), "b_q_weight must have dtype Int"),
        (lambda: gemm(a, q, z, s, g, False, False, 8), "b_q_weight must have K \\* bit / 32 = 32 rows"),
        (lambda: gemm(a[:, :96].contiguous(), q, z, s, g, False, False, 4), "b_q_weight must have K \\* bit / 32 = 12"),
        (lambda: gemm(a[:, :100].contiguous(), q, z, s, g, False, False, 4), "a.size\\(1\\) \\(K\\) must be a"),
        (lambda: gemm(a, q, z[:, :2].contiguous(), s, g, False, False, 4),
         "b_gptq_qzeros must be \\[groups >= 1, N \\* bit / 32 = 4\\]"),
        (lambda: gemm(a, q, z, s[:3], g, False, False, 4), "b_gptq_scales must be \\[groups = 4, N = 32\\]"),
        (lambda: gemm(a, q, z[:3], s[:3], g, False, False, 4), "K / groups must be a whole multiple of 32"),
        (lambda: gemm(a, q, z, s, g[:64], False, False, 4), "b_g_idx must be empty or 1-D of length 128"),
        (lambda: gemm(a, q, z, s, g.long(), False, False, 4), "b_g_idx must have dtype Int"),
        (lambda: gemm(a.t(), q, z, s, g, False, False, 4), "a must be contiguous"),
        (lambda: gemm(a[None], q, z, s, g, False, False, 4), "a must be 2-D \\[M, K\\]"),
        (lambda: gemm(a, q.t().contiguous().t(), z, s, g, False, False, 4), "b_q_weight must be contiguous"),
        (lambda: gemm(torch.randn(300, dtype=a.dtype, device=device)[1:257].view(2, 128), q, z, s, g, False, False, 4),
         "a must start on a 16-byte boundary"),
        (lambda: ops.gptq_shuffle(q.clone(), perm, 7), "gptq_shuffle: bit must be 2, 3, 4 or 8, got 7"),
        (lambda: ops.gptq_shuffle(q.clone(), perm[:100], 4), "q_perm must be empty or 1-D of length 128"),
        (lambda: ops.gptq_shuffle(q.clone(), perm.long(), 4), "q_perm must have dtype Int"),
        (lambda: ops.gptq_shuffle(q.clone(), torch.zeros_like(perm), 4),
         "q_perm must be a permutation of 0..127, got 0 at 1 \\(a repeat\\)"),
        (lambda: ops.gptq_shuffle(q.clone(), perm + 1, 4), "q_perm must be a permutation of 0..127, got 128"),
        (lambda: ops.gptq_shuffle(q.clone()[:15], perm, 4), "q_weight.size\\(0\\) must be a multiple of bit = 4"),
        (lambda: ops.gptq_shuffle(q.t(), perm, 4), "q_weight must be contiguous"),
        (lambda: ops.gptq_shuffle(q.float(), perm, 4), "q_weight must have dtype Int"),
    ]


BAD_CASES = 24


@pytest.mark.parametrize("case", range(BAD_CASES))
def test_bad_input_is_a_clear_error(case):
    fn, message = bad_input_cases("cpu")[case]
    with pytest.raises(RuntimeError, match=message):
        fn()


def test_bad_index_values_are_errors_on_cpu():
    ck = Checkpoint(128, 32, 4, 32, True, False)
    q, z, s, g = ck.args()
    a = torch.randn(2, 128, dtype=torch.float16)
    bad = g.clone()
    bad[5] = 4
    with pytest.raises(RuntimeError, match="gptq_gemm: b_g_idx must be in \\[0, 4\\) .*got 4 at 5"):
        ops.gptq_gemm(a, q, z, s, bad, False, False, 4)
    with pytest.raises(RuntimeError, match="gptq_gemm: b_g_idx \\(the q_perm of gptq_shuffle"):
        ops.gptq_gemm(a, q, z, s, bad * 100, True, False, 4)


def test_shuffle_rejects_q_perm_inside_q_weight():
    q = Checkpoint(128, 32, 4, 32, False, False).qweight.clone()
    with pytest.raises(RuntimeError, match="q_perm must not share memory with q_weight"):
        ops.gptq_shuffle(q, q.view(-1)[:128], 4)


def test_meta_tensor_among_cpu_is_an_error():
    ck = Checkpoint(128, 32, 4, 32, False, False)
    q, z, s, g = ck.args()
    with pytest.raises(RuntimeError, match="b_gptq_scales must be on the device of a"):
        ops.gptq_gemm(torch.randn(2, 128, dtype=torch.float16), q, z, s.to("meta"), g, False, False, 4)


# --------------------------------------------------------------------------------------------
# CUDA: every kernel path (fused small-M kernels, dequantize + GEMM) against the reference and
# against the CPU on the same inputs

CUDA_ROWS = [1, 3, 8, 16, 33, 64, 65, 130]


@pytest.mark.cuda
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_cuda_gemm_matches_reference_and_cpu(case):
    bits, gs, act, v2 = case
    for dtype in DTYPES:
        ck = Checkpoint(512, 256, bits, gs, act, v2, dtype, seed=bits + 1)
        w = ck.dequant()
        qweight, perm = ck.shuffled("cuda")
        cpu_qweight, cpu_perm = ck.shuffled()
        assert torch.equal(qweight.cpu(), cpu_qweight)
        for m in CUDA_ROWS:
            a = torch.randn(m, 512, dtype=dtype)
            ref, tol = a.double() @ w, gemm_tolerance(a, w, dtype)
            cpu = ops.gptq_gemm(a, *ck.args(), False, v2, bits)
            plain = ops.gptq_gemm(a.cuda(), *ck.args("cuda"), False, v2, bits)
            exllama = ops.gptq_gemm(a.cuda(), qweight, ck.qzeros.cuda(), ck.scales.cuda(), perm, True, v2, bits)
            for out in (plain, exllama):
                assert out.is_cuda and out.dtype == dtype
                assert_within(out, ref, tol)
                assert_within(out, cpu.double(), 2 * tol)


@pytest.mark.cuda
@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("act", [False, True])
def test_cuda_gemm_ragged_tiles(bits, act):
    # N = 40: the last 32-column block is a quarter full (lanes past N copy zeros and store
    # nothing); K = 192: six packs, so one warp has a stage and a half and most have none;
    # groups of 64 start mid-stage. Rows 1 and 5 take the 8-row kernel, 12 the one-tile kernel,
    # 20 the two-tile one.
    ck = Checkpoint(192, 40, bits, 64, act, False, torch.float16, seed=7)
    w = ck.dequant()
    qweight, perm = ck.shuffled("cuda")
    for m in (1, 5, 12, 20):
        a = torch.randn(m, 192, dtype=torch.float16)
        out = ops.gptq_gemm(a.cuda(), qweight, ck.qzeros.cuda(), ck.scales.cuda(), perm, True, False, bits)
        assert_within(out, a.double() @ w, gemm_tolerance(a, w, torch.float16))


@pytest.mark.cuda
@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("m", [1, 16, 64, 600])
def test_cuda_gemm_at_model_sizes(bits, m):
    # A 4096 x 4096 layer, group 128, act-order: many blocks and warps share K on the fused path.
    ck = Checkpoint(4096, 4096, bits, 128, True, False, seed=m)
    w = ck.dequant()
    a = torch.randn(m, 4096, dtype=torch.float16)
    qweight, perm = ck.shuffled("cuda")
    out = ops.gptq_gemm(a.cuda(), qweight, ck.qzeros.cuda(), ck.scales.cuda(), perm, True, False, bits)
    assert_within(out, a.double() @ w, gemm_tolerance(a, w, torch.float16))


@pytest.mark.cuda
@pytest.mark.parametrize("case", range(3))
def test_cuda_opcheck(case):
    op, args = opcheck_cases("cuda")[case]
    torch.library.opcheck(op, args)


@pytest.mark.cuda
@pytest.mark.parametrize("case", range(BAD_CASES))
def test_cuda_bad_input_is_a_clear_error(case):
    fn, message = bad_input_cases("cuda")[case]
    with pytest.raises(RuntimeError, match=message):
        fn()


@pytest.mark.cuda
def test_cuda_cpu_or_meta_tensor_among_cuda_is_an_error():
    ck = Checkpoint(128, 32, 4, 32, True, False)
    q, z, s, g = ck.args("cuda")
    a = torch.randn(2, 128, dtype=torch.float16, device="cuda")
    with pytest.raises(RuntimeError, match="b_q_weight must be on the device of a"):
        ops.gptq_gemm(a, q.cpu(), z, s, g, False, False, 4)
    with pytest.raises(RuntimeError, match="b_g_idx must be on the device of a"):
        ops.gptq_gemm(a, q, z, s, g.cpu(), False, False, 4)
    with pytest.raises(RuntimeError, match="b_gptq_qzeros must be on the device of a"):
        ops.gptq_gemm(a, q, z.to("meta"), s, g, False, False, 4)
    with pytest.raises(RuntimeError, match="q_perm must be on the device of q_weight"):
        ops.gptq_shuffle(q.clone(), torch.argsort(ck.g_idx).int(), 4)
