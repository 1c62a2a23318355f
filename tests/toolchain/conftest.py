"""Build-environment tests run without Docker: fake_docker.FakeClient stands in for the engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from buildenv import config

REPO_ENV = config.DEFAULT_ENV_FILE


@pytest.fixture
def env_data():
    return yaml.safe_load(REPO_ENV.read_text())


@pytest.fixture
def write_env(tmp_path):
    def write(data) -> Path:
        path = tmp_path / "env.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


@pytest.fixture
def fake_repo(tmp_path, monkeypatch):
    """Point build/ and dist/ at a temporary directory."""
    from buildenv import abi, pipeline, publish

    monkeypatch.setattr(pipeline, "host_build_dir", lambda target: tmp_path / "build" / target)
    monkeypatch.setattr(publish, "dist_dir", lambda target: tmp_path / "dist" / target)
    # The fake build writes no real ELF file to audit.
    monkeypatch.setattr(abi, "verdict", lambda library, include, target_abi: {
        "ok": True, "min_torch": "2.10", "platform_tag": "manylinux_2_32_x86_64", "target_abi": target_abi})
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)
