"""scaled_fp4_quant (NVFP4, CUDA-only) against the pure-torch reference (vllm_ops/reference/nvfp4.py).

Without a GPU: the reference against hand-computed codes, the swizzled layout against its offset
formula, and the kernel's math header (nvfp4_math.h) compiled for the host and compared with the
reference byte for byte, plus the fake and the no-CPU-kernel error. On a GPU: the op itself,
bit for bit, in both layouts, with padding, and its bad-input errors.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

import vllm_ops
from vllm_ops._ops import ops
from vllm_ops.reference import nvfp4 as ref

REPO = Path(__file__).resolve().parents[1]
GRID = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]


def _codes(packed: torch.Tensor) -> list[int]:
    return [(b >> (4 * h)) & 0xF for b in packed.reshape(-1).tolist() for h in (0, 1)]


def test_reference_rounds_ties_to_even_and_keeps_signs():
    # amax 6 with g = 1: the scale is exactly 1.0 (e4m3 0x38) and the values land on the grid's
    # midpoints unchanged, so each tie shows its rounding.
    x = torch.tensor([[0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 6.0, -0.25, -0.0, -5.0, 7.0, 5.1, 0.26, 0.74, -6.0]],
                     dtype=torch.float16)
    packed, scale = ref.scaled_fp4_quant(x, torch.tensor([1.0]), swizzled=False)
    # 7.0 is the absmax here, so redo the first eight with a block whose absmax is 6.
    assert scale.tolist() == [[0x39]]  # e4m3(7 / 6) = 1.125
    x6 = torch.tensor([[0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 6.0, -0.25, -0.0, -5.0, -6.0, 0.26, 0.74, 5.1, 0.0]],
                      dtype=torch.float16)
    packed, scale = ref.scaled_fp4_quant(x6, torch.tensor([1.0]), swizzled=False)
    assert scale.tolist() == [[0x38]]
    assert _codes(packed) == [0, 2, 2, 4, 4, 6, 6, 7, 8, 8, 14, 15, 1, 1, 7, 0]


def test_reference_decodes_back_within_half_a_step():
    # Independent of the rounding details: every code decodes to within half a grid step of x * inv.
    x = torch.randn(64, 256, dtype=torch.bfloat16) * torch.logspace(-3, 3, 64)[:, None]
    g = torch.tensor([2.5])
    packed, scale = ref.scaled_fp4_quant(x, g, swizzled=False)
    assert (scale == 0).any() and (scale != 0).sum() > 900  # both kinds of block are covered
    codes = torch.tensor(_codes(packed)).reshape(64, 256)
    values = torch.tensor(GRID)[codes & 7] * (1 - 2 * (codes >> 3)).float()
    sf = scale.view(torch.float8_e4m3fn).float().repeat_interleave(16, 1)
    # A block whose scale underflows e4m3 (sf 0) is all zero codes by definition.
    target = torch.where(sf == 0, 0.0, x.float() / (sf / g)).clamp(-6, 6)
    step = torch.where(target.abs() < 2, 0.5, torch.where(target.abs() < 4, 1.0, 2.0))
    assert ((values - target).abs() <= step / 2 + 1e-6).all()


def test_swizzled_layout_is_the_offset_formula():
    m, c = 130, 6
    linear = torch.randint(1, 255, (m, c), dtype=torch.uint8)
    swizzled = ref.swizzle_scales(linear).reshape(-1)
    rows, cols = 256, 8
    assert swizzled.numel() == rows * cols
    expected = torch.zeros(rows * cols, dtype=torch.uint8)
    for r in range(m):
        for k in range(c):
            offset = ((r // 128) * (cols // 4) + k // 4) * 512 + (r % 32) * 16 + ((r // 32) % 4) * 4 + k % 4
            expected[offset] = linear[r, k]
    assert torch.equal(swizzled, expected)


@pytest.fixture(scope="module")
def host_check(tmp_path_factory) -> Path:
    """tests/native/nvfp4_math_check.cpp, compiled once for the module's tests."""
    tmp_path = tmp_path_factory.mktemp("nvfp4_math_check")
    compiler = shutil.which("c++") or shutil.which("g++")
    assert compiler, "a host C++ compiler is needed to check nvfp4_math.h without a GPU"
    exe = tmp_path / "nvfp4_math_check"
    include = Path(torch.utils.cmake_prefix_path).parents[1] / "include"
    subprocess.run([compiler, "-std=c++17", "-O2", f"-I{REPO / 'csrc'}", f"-I{include}",
                    str(REPO / "tests" / "native" / "nvfp4_math_check.cpp"), "-o", str(exe)], check=True)
    return exe


def test_kernel_e2m1_codes_match_the_reference_near_every_grid_point(host_check):
    # The kernel rounds with integer tricks, the reference with the definition's comparisons: every
    # float within 256 ulps of each grid point and midpoint (both signs), the binade edges, NaN,
    # infinities, signed zeros, subnormals and 200k random floats over many magnitudes.
    points = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0,
                           16.0])
    bits = points.view(torch.int32)[:, None] + torch.arange(-256, 257, dtype=torch.int32)[None, :]
    near = bits[bits >= 0].view(torch.float32)
    g = torch.Generator().manual_seed(1)
    scattered = torch.randn(200_000, generator=g) * torch.logspace(-40, 38, 200_000).float()
    special = torch.tensor([float("nan"), -float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1e-45, -1e-45,
                            3.4e38, -3.4e38])
    v = torch.cat([near, -near, scattered, special])
    out = subprocess.run([str(host_check), "codes"], input=v.numpy().tobytes(), capture_output=True,
                         check=True).stdout
    got = torch.frombuffer(bytearray(out), dtype=torch.uint8).to(torch.int64)
    expected = ref.e2m1_codes(v)
    wrong = (got != expected).nonzero().flatten()
    assert wrong.numel() == 0, f"{wrong.numel()} codes differ, first at {v[wrong[:5]].tolist()}"


def _edge_blocks(dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    blocks = [torch.randn(400, 16, generator=g) * torch.logspace(-6, 6, 400)[:, None]]
    ties = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 6.0])
    blocks.append(torch.cat([ties, -ties]).reshape(1, 16) * torch.logspace(-4, 4, 50)[:, None])  # ties after scaling
    blocks.append(torch.zeros(2, 16))
    special = torch.randn(4, 16, generator=g)
    special[0, 3], special[1, 5], special[2, 0], special[3, 7] = float("nan"), float("inf"), -0.0, -float("inf")
    blocks.append(special)
    return torch.cat(blocks).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("global_scale", [1.0, 448.0 * 6.0 / 3.0, 1e-30, 1e30, 0.37])
def test_kernel_math_on_the_host_matches_the_reference(host_check, dtype, global_scale):
    exe = host_check
    x = _edge_blocks(dtype)
    g = torch.tensor([global_scale])
    stdin = g.numpy().tobytes() + x.float().numpy().tobytes()
    out = subprocess.run([str(exe)], input=stdin, capture_output=True, check=True).stdout
    got = torch.frombuffer(bytearray(out), dtype=torch.uint8).reshape(-1, 9)
    packed, scale = ref.scaled_fp4_quant(x.reshape(1, -1), g, swizzled=False)
    assert torch.equal(got[:, 0], scale.reshape(-1))
    assert torch.equal(got[:, 1:].reshape(-1), packed.reshape(-1))


def test_meta_shapes_without_a_gpu():
    x = torch.empty(130, 64, dtype=torch.float16, device="meta")
    codes, scale = ops.scaled_fp4_quant(x, torch.empty(1, device="meta"), True)
    assert codes.shape == (130, 32) and codes.dtype == torch.uint8
    assert scale.shape == (256, 1) and scale.dtype == torch.int32
    codes, scale = ops.scaled_fp4_quant(x, torch.empty(1, device="meta"), False)
    assert scale.shape == (130, 4) and scale.dtype == torch.uint8
    with pytest.raises(RuntimeError, match="multiple of 16"):
        ops.scaled_fp4_quant(torch.empty(4, 40, dtype=torch.float16, device="meta"), torch.empty(1, device="meta"),
                             True)


def test_cpu_tensors_get_the_no_cpu_kernel_error():
    with pytest.raises(NotImplementedError, match="scaled_fp4_quant.*CPU"):
        ops.scaled_fp4_quant(torch.zeros(2, 16, dtype=torch.float16), torch.ones(1), True)


# ---- on the GPU -------------------------------------------------------------------------------

# (3000, 2048): 384k scale positions, more than one wave of threads (132 SMs x 5 blocks x 256 on
# the H200), so threads walk several items and quantize one while the next one loads.
SHAPES = [(1, 16), (5, 64), (128, 80), (130, 4096), (300, 272), (3000, 2048)]


@pytest.mark.cuda
@pytest.mark.parametrize("swizzled", [True, False], ids=["swizzled", "linear"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("m, n", SHAPES)
def test_matches_reference_bit_for_bit(m, n, dtype, swizzled):
    x = (torch.randn(m, n) * torch.logspace(-3, 3, m)[:, None]).to(dtype)
    g = torch.tensor([448.0 * 6.0 / x.abs().max().float().item()])
    codes, scale = ops.scaled_fp4_quant(x.cuda(), g.cuda(), swizzled)
    rcodes, rscale = ref.scaled_fp4_quant(x, g, swizzled)
    assert torch.equal(codes.cpu(), rcodes)
    assert torch.equal(scale.cpu().view(torch.uint8).reshape(rscale.shape), rscale)


@pytest.mark.cuda
@pytest.mark.parametrize("swizzled", [True, False], ids=["swizzled", "linear"])
def test_edge_values_and_padded_output_write_every_byte(swizzled):
    x = _edge_blocks(torch.bfloat16).reshape(-1, 64)  # 114 rows of 4 blocks
    g = torch.tensor([3.0])
    n_out = 96
    codes, scale = vllm_ops.scaled_fp4_quant(x.cuda(), g.cuda(), swizzled, padded_n=n_out)
    # The wrapper allocates with torch.empty; poison them and run .out again to see every byte written.
    codes.fill_(0xAB)
    scale.view(torch.uint8).fill_(0xAB)
    ops.scaled_fp4_quant.out(x.cuda(), g.cuda(), swizzled, output=codes, output_scale=scale.view(torch.uint8)
                             if not swizzled else scale.view(torch.int32))
    rcodes, rscale = ref.scaled_fp4_quant(x, g, swizzled, n_out=n_out)
    assert torch.equal(codes.cpu(), rcodes)
    assert torch.equal(scale.cpu().view(torch.uint8).reshape(rscale.shape), rscale)


@pytest.mark.cuda
def test_wrapper_flattens_leading_dims_and_views_fp8():
    x = torch.randn(2, 3, 32, dtype=torch.float16, device="cuda")
    codes, scale = vllm_ops.scaled_fp4_quant(x, torch.tensor([1.0], device="cuda"), False)
    assert codes.shape == (6, 16) and scale.dtype == torch.float8_e4m3fn and scale.shape == (6, 2)


@pytest.mark.cuda
def test_opcheck():
    x = torch.randn(20, 48, dtype=torch.bfloat16, device="cuda")
    g = torch.tensor([7.0], device="cuda")
    for swizzled in (True, False):
        torch.library.opcheck(ops.scaled_fp4_quant.default, (x, g, swizzled))
    out = torch.empty(20, 24, dtype=torch.uint8, device="cuda")
    scale = torch.empty(20, 3, dtype=torch.uint8, device="cuda")
    torch.library.opcheck(ops.scaled_fp4_quant.out, (x, g, False), {"output": out, "output_scale": scale})


def _bad(**kw):
    args = {"input": torch.randn(4, 32, dtype=torch.float16, device="cuda"),
            "input_scale": torch.ones(1, device="cuda"), "swizzled": False,
            "output": torch.empty(4, 16, dtype=torch.uint8, device="cuda"),
            "output_scale": torch.empty(4, 2, dtype=torch.uint8, device="cuda")}
    args.update(kw)
    return lambda: ops.scaled_fp4_quant.out(args["input"], args["input_scale"], args["swizzled"],
                                            output=args["output"], output_scale=args["output_scale"])


BAD = {
    "input fp32": (lambda: _bad(input=torch.randn(4, 32, device="cuda")), "input must have dtype Half or BFloat16"),
    "n not 16k": (lambda: _bad(input=torch.randn(4, 24, dtype=torch.float16, device="cuda")), "multiple of 16"),
    "1-D input": (lambda: _bad(input=torch.randn(32, dtype=torch.float16, device="cuda")), "input must be 2-D"),
    "non-contiguous": (lambda: _bad(input=torch.randn(32, 4, dtype=torch.float16, device="cuda").t()),
                       "input must be contiguous"),
    "scale on cpu": (lambda: _bad(input_scale=torch.ones(1)), "input_scale must be on"),
    "scale int": (lambda: _bad(input_scale=torch.ones(1, dtype=torch.int32, device="cuda")),
                  "input_scale must have dtype Float"),
    "output narrow": (lambda: _bad(output=torch.empty(4, 8, dtype=torch.uint8, device="cuda")), "output must be"),
    "output fp16": (lambda: _bad(output=torch.empty(4, 16, dtype=torch.float16, device="cuda")),
                    "output must have dtype Byte"),
    "scales short": (lambda: _bad(output_scale=torch.empty(4, 1, dtype=torch.uint8, device="cuda")),
                     "output_scale must hold 4 x 2 scale bytes"),
    "swizzled scales short": (lambda: _bad(swizzled=True), "output_scale must hold 128 x 4 scale bytes"),
}


@pytest.mark.cuda
@pytest.mark.parametrize("case", BAD)
def test_bad_inputs_name_the_argument(case):
    make, message = BAD[case]
    with pytest.raises(RuntimeError, match=message):
        make()()
