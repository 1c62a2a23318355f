"""Run the kernel suite (tests/ without tests/toolchain) against a published artifact: in its
toolchain image (`run_in_image`), or unchanged under another torch in a fresh venv
(`run_under_torch`).

Under another torch the artifact is used unchanged (same bytes as in dist/<target>/): that is
the point of the stable ABI. The venv lives in .cache/venvs/torch-<version> and is reused when
it already holds that torch.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import config, container, publish
from .compile import BUILD_INFO_NAME, LIBRARY_NAME
from .config import REPO_ROOT, EnvConfig
from .errors import BuildEnvError
from .files import Log

VENVS = REPO_ROOT / ".cache" / "venvs"


def gguf_requirement() -> str:
    """The gguf package the GGUF tests check against, at the version the images pin."""
    return f"gguf=={config.load().data['images']['cuda']['python_packages']['gguf']}"


def venv_for(torch_version: str, log: Log = print) -> Path:
    venv = VENVS / f"torch-{torch_version}"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import torch, pytest, gguf; print(torch.__version__)"]
    if python.exists() and subprocess.run(probe, capture_output=True, text=True).stdout.startswith(torch_version):
        return python
    log(f"suite: creating {venv} with torch=={torch_version}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", f"torch=={torch_version}", "pytest", "numpy",
                              gguf_requirement()], capture_output=True, text=True)
    if install.returncode != 0:
        raise BuildEnvError(f"could not install torch=={torch_version}:\n{install.stderr.strip()[-1500:]}")
    return python


def run_under_torch(artifact_dir: Path, torch_version: str, pytest_args: str = "", log: Log = print) -> int:
    """Install the target's wheel (or, without one, copy the package next to the library) and
    run the kernel suite from a scratch dir."""
    if not (artifact_dir / LIBRARY_NAME).exists():
        raise BuildEnvError(f"no artifact in {artifact_dir}; run `invoke build` first")
    python = venv_for(torch_version, log)
    wheels = sorted(artifact_dir.glob("*.whl"))
    with tempfile.TemporaryDirectory(prefix="vllm-ops-xver-") as tmp:
        work = Path(tmp)
        # csrc: tests/test_fp4.py compiles the FP4 math header for the host.
        for name in ("buildenv", "tests", "csrc", "pyproject.toml") if wheels else (
                "vllm_ops", "buildenv", "tests", "csrc", "pyproject.toml"):
            src = REPO_ROOT / name
            (shutil.copytree if src.is_dir() else shutil.copyfile)(src, work / name)
        if wheels:
            log(f"suite: installing {wheels[0].name}")
            subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall",
                            str(wheels[0])], check=True)
        else:
            subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "vllm-ops"], check=False)
            for name in (LIBRARY_NAME, BUILD_INFO_NAME):
                shutil.copyfile(artifact_dir / name, work / "vllm_ops" / name)
        cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--ignore=tests/toolchain",
               *pytest_args.split()]
        log(f"suite: {' '.join(cmd)} (torch {torch_version}, artifact {artifact_dir})")
        return subprocess.run(cmd, cwd=work).returncode


def image_command(pytest_args: str) -> str:
    """Copy the package and tests out of the read-only source, drop in the artifact, run pytest."""
    return (
        "set -e; mkdir -p /tmp/w && cp -r /src/vllm_ops /src/buildenv /src/tests /src/csrc /src/pyproject.toml /tmp/w/ "
        f"&& cp {container.DIST}/{LIBRARY_NAME} {container.DIST}/{BUILD_INFO_NAME} /tmp/w/vllm_ops/ "
        f"&& cd /tmp/w && python3 -m pytest -p no:cacheprovider --ignore=tests/toolchain {pytest_args}"
    )


def run_in_image(client, cfg: EnvConfig, target: str, pytest_args: str = "", gpus: bool = False,
                 log: Log = print) -> int:
    """The suite in the target's toolchain image against dist/<target>/, read-only; returns pytest's status."""
    if target == "rocm":
        raise BuildEnvError(
            "rocm artifacts cannot run here (no ROCm torch, no AMD GPU); they are compile-and-link "
            "verified: `invoke abi-check --target rocm`"
        )
    tag = container.require_image(client, cfg, target)
    artifact = publish.dist_dir(target) / LIBRARY_NAME
    if not artifact.exists():
        raise BuildEnvError(f"no artifact at {artifact}; run `invoke build --target {target}` first")
    kwargs = {}
    if gpus:
        import docker  # noqa: PLC0415

        kwargs["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
    return container.run(
        client, tag, image_command(pytest_args), None, log,
        user=container.caller_user(),
        environment={"HOME": "/tmp", "VLLM_OPS_REQUIRE_GPU": "1" if gpus else "0"},
        volumes={
            str(REPO_ROOT): {"bind": str(container.SRC), "mode": "ro"},
            str(publish.dist_dir(target)): {"bind": container.DIST, "mode": "ro"},
        },
        **kwargs,
    )
