"""Configure and compile the extension with CMake + Ninja: on this machine against the header
torch (`invoke build --native`), or in the toolchain image against its /opt/torch. Both take the
same configure arguments from env.yaml; configure runs only when they changed, so an unchanged
build stays a Ninja no-op."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from . import container
from .config import REPO_ROOT, TARGETS, EnvConfig
from .errors import BuildEnvError
from .files import Log, first_error_lines, run_streaming

LIBRARY_NAME = "_C_stable_libtorch.abi3.so"
BUILD_INFO_NAME = "_build_info.json"
CONFIGURE_STAMP = "configure-args.json"
# ccache's counters before and after the compile, in the build directory (ccache --print-stats).
CCACHE_STATS = ("ccache-before.tsv", "ccache-after.tsv")


@dataclass(frozen=True)
class TorchInstall:
    version: str
    include_dir: Path
    library_dir: Path


IMAGE_TORCH = TorchInstall("image", Path("/opt/torch/include"), Path("/opt/torch/lib"))


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


def host_build_dir(target: str) -> Path:
    """Where `invoke build` keeps the in-image build tree of a target (native: <target>-native)."""
    return REPO_ROOT / "build" / target


def gpu_archs(cfg: EnvConfig, target: str) -> list[str]:
    return {"cpu": [], "cuda": cfg.cuda_arch_list, "rocm": cfg.rocm_arch_list}[target]


def build_info(cfg: EnvConfig, target: str) -> dict:
    """What the Python loader needs to know about a built library."""
    return {
        "namespace": cfg.namespace,
        "target": target,
        "torch_header_version": cfg.torch_header_version,
        "target_abi": cfg.target_abi,
        "gpu_archs": gpu_archs(cfg, target),
    }


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
    if target == "cuda":
        # The CUTLASS families check their headers against this pin (cmake/cuda.cmake).
        args.append(f"-DVLLM_OPS_CUTLASS_VERSION={cfg.data['cuda']['cutlass_wheel']['nvidia-cutlass']}")
        if cuda_compiler:
            args.append(f"-DCMAKE_CUDA_COMPILER={cuda_compiler}")
    return args


def native_cutlass_include_dir() -> str | None:
    """CUTLASS's headers for a native build: $CUTLASS_INCLUDE_DIR (the image's variable), else the
    nvidia-cutlass wheel installed in this interpreter (the one env.yaml pins), else None (a build
    whose arch list needs them then fails in CMake, naming the variable)."""
    if os.environ.get("CUTLASS_INCLUDE_DIR"):
        return os.environ["CUTLASS_INCLUDE_DIR"]
    spec = importlib.util.find_spec("cutlass_library")
    if spec is None or not spec.submodule_search_locations:
        return None
    include = Path(list(spec.submodule_search_locations)[0]) / "source" / "include"
    return str(include) if include.is_dir() else None


def image_configure_args(cfg: EnvConfig, target: str) -> list[str]:
    """Configure arguments in the toolchain image: its torch, /src and /build, ccache launchers."""
    configure = cmake_configure_args(cfg, target, IMAGE_TORCH, container.SRC, container.BUILD) + [
        "-DCMAKE_C_COMPILER_LAUNCHER=ccache",
        "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache",
    ]
    if target in ("cuda", "rocm"):
        configure.append(f"-DCMAKE_{'CUDA' if target == 'cuda' else 'HIP'}_COMPILER_LAUNCHER=ccache")
    return configure


def needs_configure(build_dir: Path, configure: list[str]) -> bool:
    """Configure only when the arguments changed (Ninja re-runs CMake itself when CMake files change)."""
    stamp = build_dir / CONFIGURE_STAMP
    return not (build_dir / "build.ninja").exists() or not stamp.exists() \
        or json.loads(stamp.read_text()) != configure


def record_configure(build_dir: Path, configure: list[str]) -> None:
    (build_dir / CONFIGURE_STAMP).write_text(json.dumps(configure))


def image_build_script(configure: list[str], jobs: int, reconfigure: bool, ccache_stats: bool = False) -> str:
    """The shell command run in the container. With ccache_stats, ccache's counters are written
    before and after the compile (CCACHE_STATS), so the build can report its hits."""
    steps = [shlex.join(configure)] if reconfigure else []
    steps.append(shlex.join(["cmake", "--build", str(container.BUILD), "--parallel", str(jobs)]))
    steps.append(f"cp {container.TOOLCHAIN_FILE} {container.BUILD}/toolchain.json")
    script = " && ".join(steps)
    return with_ccache_stats(script) if ccache_stats else script


def with_ccache_stats(command: str) -> str:
    """`command` with ccache's counters written to /build before and after it (CCACHE_STATS), for
    ccache_hits."""
    before, after = (f"{container.BUILD}/{name}" for name in CCACHE_STATS)
    return f"(ccache --print-stats > {before} || true) && {command} && (ccache --print-stats > {after} || true)"


def ccache_counters(build_dir: Path) -> dict[str, int] | None:
    """ccache's own counters for the last in-image compile (after minus before: cache_miss,
    direct_cache_hit, remote_storage_read_hit, ...); None when it ran without ccache."""
    def counters(name):
        path = build_dir / name
        if not path.is_file():
            return None
        pairs = (line.split() for line in path.read_text().splitlines())
        return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}

    before, after = (counters(name) for name in CCACHE_STATS)
    if not before or not after:
        return None
    return {key: after.get(key, 0) - before.get(key, 0) for key in after}


def ccache_hits(build_dir: Path) -> tuple[int, int] | None:
    """(hits, hits + misses) of the last in-image compile, local and remote hits alike."""
    delta = ccache_counters(build_dir)
    if delta is None:
        return None
    hits = delta.get("direct_cache_hit", 0) + delta.get("preprocessed_cache_hit", 0)
    return hits, hits + delta.get("cache_miss", 0)


def compile_in_image(client, cfg: EnvConfig, target: str, build_dir: Path, jobs: int, log: Log = print,
                     source_dir: Path = REPO_ROOT, user: str | None = None, env: dict | None = None,
                     umask: str = "022", use_ccache: bool = True,
                     cache_volume: str = container.CCACHE_VOLUME) -> Path:
    """Configure (when needed) and compile `target` in its image; returns the library in build_dir.
    The compiler cache is the local `cache_volume`, plus env.yaml's remote backend when set."""
    tag = container.require_image(client, cfg, target)
    if use_ccache:
        container.ensure_ccache_volume(client, tag, cache_volume)
    build_dir.mkdir(parents=True, exist_ok=True)
    log_path = build_dir / "build.log"
    log_path.write_bytes(b"")
    configure = image_configure_args(cfg, target)
    for name in ("toolchain.json", *CCACHE_STATS):
        (build_dir / name).unlink(missing_ok=True)
    script = image_build_script(configure, jobs, needs_configure(build_dir, configure), ccache_stats=use_ccache)
    environment = {**container.build_environment(cfg, use_ccache), **(env or {})}
    code = container.run(client, tag, f"umask {umask}; {script}", log_path, log, user=user or container.caller_user(),
                         working_dir=str(container.BUILD), environment=environment,
                         volumes=container.build_mounts(source_dir, build_dir, cache_volume if use_ccache else None))
    if code != 0:
        raise BuildEnvError(
            f"compiling target {target} in {tag} failed (exit {code}); nothing was written to "
            f"dist/{target}/. Full log: {log_path}\n{first_error_lines(log_path)}"
        )
    record_configure(build_dir, configure)
    return build_dir / LIBRARY_NAME


def compile_native(cfg: EnvConfig, target: str, build_dir: Path, source_dir: Path = REPO_ROOT,
                   jobs: int | None = None, torch: TorchInstall | None = None, log: Log = print) -> Path:
    """Configure (if needed) and build with this machine's toolchain; returns the library in build_dir."""
    torch = torch or find_header_torch(cfg)
    build_dir.mkdir(parents=True, exist_ok=True)
    log_path = build_dir / "build.log"
    log_path.write_text("")
    env = dict(os.environ)
    env["SOURCE_DATE_EPOCH"] = str(cfg.source_date_epoch)  # as the container builds: env.yaml
    nvcc = os.environ.get("CUDACXX") or shutil.which("nvcc")
    configure = cmake_configure_args(cfg, target, torch, source_dir, build_dir, cuda_compiler=nvcc)
    cutlass = native_cutlass_include_dir() if target == "cuda" else None
    if cutlass:
        configure.append(f"-DVLLM_OPS_CUTLASS_INCLUDE_DIR={cutlass}")
    if needs_configure(build_dir, configure):
        run_streaming(configure, log_path, log, env=env)
        record_configure(build_dir, configure)
    jobs = jobs or cfg.max_jobs(target)
    run_streaming(["cmake", "--build", str(build_dir), "--parallel", str(jobs)], log_path, log, env=env)
    return build_dir / LIBRARY_NAME


def install_into(build_dir: Path, package_dir: Path) -> Path:
    """Copy the library and its build info into the package, each by atomic rename."""
    for name in (LIBRARY_NAME, BUILD_INFO_NAME):
        tmp = package_dir / f".{name}.tmp"
        shutil.copyfile(build_dir / name, tmp)
        os.replace(tmp, package_dir / name)
    return package_dir / LIBRARY_NAME
