"""Native builds: the header torch is found from its files and metadata, without importing it;
SOURCE_DATE_EPOCH comes from env.yaml."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from buildenv import compile as compiling
from buildenv import config
from buildenv.errors import BuildEnvError


def test_header_torch_is_found_without_importing_torch():
    script = (
        "import sys; from buildenv import config; from buildenv.compile import find_header_torch; "
        "t = find_header_torch(config.load()); "
        "assert (t.include_dir / 'torch' / 'headeronly').is_dir(), t; "
        "assert (t.library_dir / 'libtorch_cpu.so').exists(), t; "
        "print(t.version, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=config.REPO_ROOT).stdout.split()
    assert out == [config.load().torch_header_version, "False"]


def test_wrong_header_torch_version_names_the_key():
    cfg = config.load()
    other = dataclasses.replace(cfg, data={**cfg.data, "torch": {**cfg.data["torch"], "header_version": "2.99.0"}})
    with pytest.raises(BuildEnvError, match=r"torch==2\.99\.0 for headers \(env.yaml torch.header_version\)"):
        compiling.find_header_torch(other)


def test_native_builds_take_source_date_epoch_from_env_yaml(tmp_path, monkeypatch):
    cfg = config.load()
    seen = []
    monkeypatch.setattr(compiling, "run_streaming", lambda cmd, log_path, log, env=None, cwd=None: seen.append(env))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # a stale value in the caller's environment loses
    torch = compiling.TorchInstall("2.13.0", tmp_path, tmp_path)
    compiling.compile_native(cfg, "cpu", tmp_path / "build", torch=torch)
    assert seen and all(env["SOURCE_DATE_EPOCH"] == str(cfg.source_date_epoch) for env in seen)
    assert cfg.source_date_epoch != 0
