"""Inputs and helpers shared by the int8 and fp8 quantization tests."""

from __future__ import annotations

import pytest
import torch

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
# (leading dims, hidden): one token; widths that defeat 16-byte vectors; not a multiple of the
# block; several leading dims; long rows past the GPU register cache (read twice); a large case.
SHAPES = [
    ((1,), 4096),
    ((1,), 1),
    ((3,), 7),
    ((5,), 13),
    ((7,), 1027),
    ((2, 3), 128),
    ((33,), 2056),
    ((3,), 70000),
    ((300,), 5632),
]


def make_input(lead, hidden, dtype, device, seed=0):
    """Rows of very different magnitudes, plus an all-zero row and a constant row when there is room."""
    g = torch.Generator().manual_seed(seed)
    rows = 1
    for n in lead:
        rows *= n
    x = torch.randn(rows, hidden, generator=g) * torch.logspace(-2, 2, rows)[:, None]
    if rows >= 3:
        x[1] = 0.0
        x[2] = 1.5
    return x.to(dtype).reshape(*lead, hidden).to(device)


def assert_same_bits(actual: torch.Tensor, expected: torch.Tensor):
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    a, e = actual.cpu(), expected.cpu()
    if a.dtype.is_floating_point and a.element_size() == 1:
        a, e = a.view(torch.uint8), e.view(torch.uint8)
    mismatch = (a != e) & ~(torch.isnan(a) & torch.isnan(e)) if a.is_floating_point() else a != e
    n = int(mismatch.sum())
    assert n == 0, f"{n} of {a.numel()} elements differ; first at {mismatch.nonzero()[0].tolist()}"
