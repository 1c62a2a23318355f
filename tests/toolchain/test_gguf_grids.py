"""The generated i-quant grid header matches the gguf package it was generated from, and the
check notices a changed grid value."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_gguf_grids", ROOT / "scripts/gen_gguf_grids.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grids_header_is_current(monkeypatch):
    gen = _generator()
    monkeypatch.setattr(sys, "argv", ["gen_gguf_grids.py", "--check"])
    assert gen.main() == 0


def test_check_fails_on_a_changed_grid_value(tmp_path, monkeypatch):
    gen = _generator()
    planted = tmp_path / "gguf_grids.h"
    planted.write_text(gen.HEADER.read_text().replace("0x0808080808080808", "0x0808080808080809", 1))
    monkeypatch.setattr(gen, "HEADER", planted)
    monkeypatch.setattr(sys, "argv", ["gen_gguf_grids.py", "--check"])
    assert gen.main() == 1
    with pytest.raises(AssertionError):
        assert planted.read_text() == gen.render()
