"""Devcontainers: the committed files are what env.yaml renders (shown failing on a planted
change), they open the image `invoke image` builds, and, against the real
engine with the real Dev Containers CLI (marked `docker`), one builds, opens and runs the CPU
build and kernel tests inside."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from buildenv import config, devcontainer
from buildenv.compile import IMAGE_TORCH, cmake_configure_args
from buildenv.files import export_tree

CFG = config.load(profile="")


def test_committed_files_match_env_yaml():
    assert devcontainer.drifted(CFG) == [], "run `invoke devcontainer` and commit the result"


def test_drift_is_detected():
    data = json.loads(json.dumps(CFG.data))
    data["images"]["cuda"]["tag"] = "vllm-ops/planted"
    data["ops"]["namespace"] = "_C"
    planted = config.EnvConfig(data=data, sha256=CFG.sha256, path=CFG.path)
    assert set(devcontainer.drifted(planted)) == {devcontainer.DEVCONTAINER_DIR / "cuda" / "devcontainer.json",
                                                  devcontainer.PRESETS_PATH}


@pytest.mark.parametrize("name", sorted(devcontainer.VARIANTS))
def test_opens_the_image_invoke_image_builds(name):
    key = devcontainer.VARIANTS[name][0]
    spec = json.loads((devcontainer.DEVCONTAINER_DIR / name / "devcontainer.json").read_text())
    assert spec["image"] == CFG.data["images"][key]["tag"]
    assert spec["initializeCommand"] == [".venv/bin/invoke", "image", "--target", key]
    assert spec["hostRequirements"] == {"gpu": "optional"} and spec["remoteUser"] == "dev"
    assert {"source": devcontainer.CACHE_VOLUME, "target": "/ccache", "type": "volume"} in spec["mounts"]
    # NVIDIA GPUs come from hostRequirements; AMD devices only in the variant for AMD hosts.
    assert ("--device=/dev/kfd" in spec.get("runArgs", [])) == (name == "rocm-gpu")


def test_presets_configure_what_invoke_build_configures():
    presets = json.loads(devcontainer.PRESETS_PATH.read_text())
    for preset in presets["configurePresets"]:
        target = preset["name"]
        args = cmake_configure_args(CFG, target, IMAGE_TORCH, Path("s"), Path("b"))
        expected = dict(a[2:].split("=", 1) for a in args if a.startswith("-D"))
        assert preset["cacheVariables"] == expected


@pytest.mark.docker
def test_cli_builds_opens_and_runs_the_cpu_suite_inside(tmp_path):
    cli = shutil.which("devcontainer")
    assert cli, "the Dev Containers CLI is not installed (npm install -g @devcontainers/cli; .ci/run does)"
    work = tmp_path / "vllm-ops"
    export_tree(work)
    # The host side (initializeCommand) uses the checkout's tools and wheel cache.
    cache = config.REPO_ROOT / ".cache"
    cache.mkdir(exist_ok=True)
    (work / ".venv").symlink_to(config.REPO_ROOT / ".venv")
    (work / ".cache").symlink_to(cache)
    if os.geteuid() == 0:  # a developer's checkout is theirs: here the image's dev user (UID 1000)
        subprocess.run(["chown", "-R", "1000:1000", str(work)], check=True)
    where = ["--workspace-folder", str(work), "--config", str(work / ".devcontainer" / "cuda" / "devcontainer.json")]
    transcript = []

    def step(name, *args):
        start = time.monotonic()
        result = subprocess.run([cli, *args], capture_output=True, text=True)
        transcript.append(f"=== {name} ({time.monotonic() - start:.1f} s, rc {result.returncode})\n"
                          + (result.stdout + result.stderr)[-3000:])
        assert result.returncode == 0, transcript[-1]
        return result.stdout

    try:
        step("devcontainer build", "build", *where)
        up = json.loads(step("devcontainer up", "up", *where, "--remove-existing-container").strip().splitlines()[-1])
        assert up["outcome"] == "success"
        whoami = step("whoami", "exec", *where, "id", "-u")
        assert whoami.strip().splitlines()[-1] == "1000"
        step("invoke build --native --target cpu", "exec", *where, "invoke", "build", "--native", "--target", "cpu")
        tests = step("cpu kernel tests", "exec", *where, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                     "tests/test_activation.py", "tests/test_gptq.py", "tests/test_int8_quant.py")
        assert " passed" in tests and "failed" not in tests
    finally:
        (cache / "devcontainer-transcript.txt").write_text("\n".join(transcript))
        subprocess.run(["docker", "rm", "-f", *subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=devcontainer.local_folder={work}"],
            capture_output=True, text=True).stdout.split()], capture_output=True)
