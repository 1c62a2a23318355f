"""Configure and compile the extension with CMake + Ninja, on the host or inside an image.

The same function runs in both places: `invoke build --native` calls it directly, and the
container build runs it inside the toolchain image. Output streams live; the library is
installed into the package only after a successful build.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .config import REPO_ROOT, TARGETS, EnvConfig
from .errors import BuildEnvError

LIBRARY_NAME = "_C_stable_libtorch.abi3.so"
BUILD_INFO_NAME = "_build_info.json"


@dataclass(frozen=True)
class TorchInstall:
    version: str
    include_dir: Path
    library_dir: Path


def find_header_torch(cfg: EnvConfig) -> TorchInstall:
    """The torch whose headers and libraries we build against: env.yaml torch.header_version.
    Found without importing torch, which would cost seconds of every build."""
    import importlib.metadata  # noqa: PLC0415
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        raise BuildEnvError(
            f"torch is not installed in this Python ({sys.executable}); the build needs "
            f"torch=={cfg.torch_header_version} for headers (env.yaml torch.header_version). "
            "Run ./bootstrap.sh, or build in the container (drop --native)."
        )
    full_version = importlib.metadata.version("torch")
    version = full_version.split("+")[0]
    if version != cfg.torch_header_version:
        raise BuildEnvError(
            f"the build needs torch=={cfg.torch_header_version} for headers "
            f"(env.yaml torch.header_version), found torch {full_version} in {sys.executable}"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    return TorchInstall(version=version, include_dir=root / "include", library_dir=root / "lib")


def build_info(cfg: EnvConfig, target: str) -> dict:
    """What the Python loader needs to know about a built library."""
    return {
        "namespace": cfg.namespace,
        "target": target,
        "torch_header_version": cfg.torch_header_version,
        "target_abi": cfg.target_abi,
        "gpu_archs": gpu_archs(cfg, target),
    }


def gpu_archs(cfg: EnvConfig, target: str) -> list[str]:
    return {"cpu": [], "cuda": cfg.cuda_arch_list, "rocm": cfg.rocm_arch_list}[target]


def cmake_configure_args(
    cfg: EnvConfig, target: str, torch: TorchInstall, source_dir: Path, build_dir: Path,
    cuda_compiler: str | None = None,
) -> list[str]:
    if target not in TARGETS:
        raise BuildEnvError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    args = [
        "cmake", "-G", "Ninja", "-S", str(source_dir), "-B", str(build_dir),
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DVLLM_OPS_TARGET={target}",
        f"-DVLLM_OPS_NAMESPACE={cfg.namespace}",
        f"-DVLLM_OPS_TORCH_TARGET_VERSION={cfg.torch_target_version_macro}",
        f"-DVLLM_OPS_TORCH_INCLUDE_DIR={torch.include_dir}",
        f"-DVLLM_OPS_TORCH_LIBRARY_DIR={torch.library_dir}",
        f"-DVLLM_OPS_GPU_ARCHS={';'.join(gpu_archs(cfg, target))}",
        f"-DVLLM_OPS_NVCC_THREADS={cfg.nvcc_threads}",
        f"-DVLLM_OPS_BUILD_INFO={json.dumps(build_info(cfg, target), sort_keys=True)}",
    ]
    if target == "cuda" and cuda_compiler:
        args.append(f"-DCMAKE_CUDA_COMPILER={cuda_compiler}")
    return args


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class BuildResult:
    library: Path
    sha256: str
    seconds: float


def run_streaming(cmd: list[str], log_path: Path, env: dict | None = None, cwd: Path | None = None) -> None:
    """Run `cmd`, echo its output live and keep it in `log_path`. Raises BuildEnvError with
    the first error lines on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
            log.write(line)
        code = proc.wait()
    if code != 0:
        raise BuildEnvError(
            f"`{' '.join(cmd[:3])} ...` failed with exit code {code}; full log: {log_path}\n"
            + first_error_lines(log_path)
        )


def first_error_lines(log_path: Path, limit: int = 10) -> str:
    lines = log_path.read_text(errors="replace").splitlines()
    hits = [ln for ln in lines if "error" in ln.lower() or "FAILED" in ln]
    return "\n".join(hits[:limit]) or "\n".join(lines[-limit:])


CONFIGURE_STAMP = "configure-args.json"


def needs_configure(build_dir: Path, configure: list[str]) -> bool:
    """Configure only when the arguments changed, so an unchanged build stays a Ninja no-op
    (Ninja re-runs CMake itself when CMake files change)."""
    stamp = build_dir / CONFIGURE_STAMP
    return not (build_dir / "build.ninja").exists() or not stamp.exists() \
        or json.loads(stamp.read_text()) != configure


def record_configure(build_dir: Path, configure: list[str]) -> None:
    (build_dir / CONFIGURE_STAMP).write_text(json.dumps(configure))


def compile_extension(
    cfg: EnvConfig,
    target: str,
    build_dir: Path,
    source_dir: Path = REPO_ROOT,
    jobs: int | None = None,
    torch: TorchInstall | None = None,
) -> Path:
    """Configure (if needed) and build; returns the built library inside build_dir."""
    torch = torch or find_header_torch(cfg)
    build_dir.mkdir(parents=True, exist_ok=True)
    log = build_dir / "build.log"
    log.write_text("")
    env = dict(os.environ)
    env["SOURCE_DATE_EPOCH"] = str(cfg.source_date_epoch)  # as the container builds: env.yaml
    nvcc = os.environ.get("CUDACXX") or shutil.which("nvcc")
    configure = cmake_configure_args(cfg, target, torch, source_dir, build_dir, cuda_compiler=nvcc)
    if needs_configure(build_dir, configure):
        run_streaming(configure, log, env=env)
        record_configure(build_dir, configure)
    jobs = jobs or cfg.max_jobs(target)
    run_streaming(["cmake", "--build", str(build_dir), "--parallel", str(jobs)], log, env=env)
    return build_dir / LIBRARY_NAME


def install_into(build_dir: Path, package_dir: Path) -> Path:
    """Copy the library and its build info into the package, each by atomic rename."""
    for name in (LIBRARY_NAME, BUILD_INFO_NAME):
        tmp = package_dir / f".{name}.tmp"
        shutil.copyfile(build_dir / name, tmp)
        os.replace(tmp, package_dir / name)
    return package_dir / LIBRARY_NAME


def native_build(cfg: EnvConfig, target: str, jobs: int | None = None) -> BuildResult:
    start = time.monotonic()
    build_dir = REPO_ROOT / "build" / f"{target}-native"
    compile_extension(cfg, target, build_dir, jobs=jobs)
    installed = install_into(build_dir, REPO_ROOT / "vllm_ops")
    return BuildResult(installed, sha256_file(installed), time.monotonic() - start)
