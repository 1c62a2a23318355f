"""Builds and test runs inside the toolchain images.

Fixed in-container paths (/src read-only, /build, /ccache, /dist), the caller's UID/GID, one
build directory per target on the host, a persistent compiler-cache volume, and an artifact
that reaches dist/<target>/ only when the whole build succeeded.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from pathlib import Path

from . import abi, images, manifest, wheel
from .config import REPO_ROOT, EnvConfig
from .errors import BuildEnvError
from .native import (
    BUILD_INFO_NAME,
    LIBRARY_NAME,
    BuildResult,
    TorchInstall,
    cmake_configure_args,
    find_header_torch,
    first_error_lines,
    needs_configure,
    record_configure,
    sha256_file,
)

SRC = Path("/src")
BUILD = Path("/build")
CCACHE = "/ccache"
DIST = "/dist"
IMAGE_TORCH = TorchInstall("image", Path("/opt/torch/include"), Path("/opt/torch/lib"))
CCACHE_VOLUME = "vllm-ops-ccache"
# Raw wheels by content key, beside the compiler cache (same volume, same lifetime).
WHEEL_CACHE = f"{CCACHE}/vllm-ops-wheels"
TOOLCHAIN_FILE = "/etc/vllm-ops/toolchain.json"


def host_build_dir(target: str) -> Path:
    return REPO_ROOT / "build" / target


def dist_dir(target: str) -> Path:
    return REPO_ROOT / "dist" / target


def caller_user() -> str:
    return f"{os.getuid()}:{os.getgid()}"


def build_script(cfg: EnvConfig, target: str, jobs: int, reconfigure: bool) -> tuple[str, list[str]]:
    """The shell command run in the container, and the configure arguments it uses."""
    configure = cmake_configure_args(cfg, target, IMAGE_TORCH, SRC, BUILD) + [
        "-DCMAKE_C_COMPILER_LAUNCHER=ccache",
        "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache",
    ]
    if target in ("cuda", "rocm"):
        configure.append(f"-DCMAKE_{'CUDA' if target == 'cuda' else 'HIP'}_COMPILER_LAUNCHER=ccache")
    steps = [shlex.join(configure)] if reconfigure else []
    steps.append(shlex.join(["cmake", "--build", str(BUILD), "--parallel", str(jobs)]))
    steps.append(f"cp {TOOLCHAIN_FILE} {BUILD}/toolchain.json")
    return " && ".join(steps), configure


def ensure_ccache_volume(client, image_tag: str) -> None:
    """Create the cache volume once, owned by the caller (volumes start out root-owned)."""
    import docker  # noqa: PLC0415

    try:
        client.volumes.get(CCACHE_VOLUME)
    except docker.errors.NotFound:
        client.volumes.create(CCACHE_VOLUME)
        client.containers.run(image_tag, ["chown", caller_user(), CCACHE], user="0:0", remove=True,
                              volumes={CCACHE_VOLUME: {"bind": CCACHE, "mode": "rw"}})


def require_image(client, cfg: EnvConfig, target: str) -> str:
    tag = cfg.image(target)["tag"]
    if not images.image_exists(client, tag):
        raise BuildEnvError(
            f"toolchain image {tag} is not built yet; run `invoke image --target {target}` "
            "(or `invoke build`, which builds it when missing)"
        )
    return tag


def run_logged(client, image_tag: str, command: str, log_path: Path | None, log=print, **kwargs) -> int:
    """Run `command` in a fresh container, stream its output live (and into log_path)."""
    container = client.containers.run(image_tag, ["bash", "-c", command], detach=True, **kwargs)
    try:
        out = open(log_path, "ab") if log_path else None
        try:
            for chunk in container.logs(stream=True, follow=True):
                text = chunk.decode(errors="replace")
                log(text.rstrip("\n"))
                if out:
                    out.write(chunk)
        finally:
            if out:
                out.close()
        return container.wait()["StatusCode"]
    finally:
        container.remove(force=True)


def compile_in_image(client, cfg: EnvConfig, target: str, build_dir: Path, jobs: int, log=print,
                     source_dir: Path = REPO_ROOT, user: str | None = None, env: dict | None = None,
                     umask: str = "022", use_ccache: bool = True) -> Path:
    """Configure (when needed) and compile `target` in its image; returns the library in build_dir."""
    tag = require_image(client, cfg, target)
    if use_ccache:
        ensure_ccache_volume(client, tag)
    build_dir.mkdir(parents=True, exist_ok=True)
    log_path = build_dir / "build.log"
    log_path.write_bytes(b"")
    _, configure = build_script(cfg, target, jobs, True)
    script, _ = build_script(cfg, target, jobs, needs_configure(build_dir, configure))
    (build_dir / "toolchain.json").unlink(missing_ok=True)
    environment = {"SOURCE_DATE_EPOCH": str(cfg.source_date_epoch), "CCACHE_DIR": CCACHE, "HOME": "/tmp",
                   **({} if use_ccache else {"CCACHE_DISABLE": "1"}), **(env or {})}
    volumes = {str(source_dir): {"bind": str(SRC), "mode": "ro"}, str(build_dir): {"bind": str(BUILD), "mode": "rw"}}
    if use_ccache:
        volumes[CCACHE_VOLUME] = {"bind": CCACHE, "mode": "rw"}
    code = run_logged(client, tag, f"umask {umask}; {script}", log_path, log, user=user or caller_user(),
                      working_dir=str(BUILD), environment=environment, volumes=volumes)
    if code != 0:
        raise BuildEnvError(
            f"compiling target {target} in {tag} failed (exit {code}); nothing was written to "
            f"dist/{target}/. Full log: {log_path}\n{first_error_lines(log_path)}"
        )
    record_configure(build_dir, configure)
    return build_dir / LIBRARY_NAME


def build(client, cfg: EnvConfig, target: str, jobs: int | None = None, log=print,
          source_dir: Path = REPO_ROOT) -> BuildResult:
    """Compile in the image and publish to dist/<target>/ with a manifest."""
    start = time.monotonic()
    build_dir = host_build_dir(target)
    jobs = jobs or cfg.max_jobs(target)
    compile_in_image(client, cfg, target, build_dir, jobs, log, source_dir)
    image = images.image_info(client, cfg.image(target)["tag"])
    toolchain = json.loads((build_dir / "toolchain.json").read_text())
    audit = abi_summary(cfg, build_dir / LIBRARY_NAME)
    if target in WHEEL_TARGETS:
        stamp = wheel_inputs_stamp(build_dir / LIBRARY_NAME, source_dir, audit["platform_tag"], image["id"])
        stamp_file = build_dir / "wheel-inputs.sha256"
        current = sorted(build_dir.glob("*.whl"))
        if not (current and stamp_file.exists() and stamp_file.read_text() == stamp):
            for stale in current:
                stale.unlink()
            build_wheel(client, cfg, target, build_dir, jobs, audit["platform_tag"], log, source_dir,
                        cache_key=stamp)
            stamp_file.write_text(stamp)
    published = manifest.publish(cfg, target, build_dir, dist_dir(target), image, toolchain, extra={"abi": audit})
    return BuildResult(published, manifest.sha256_file(published), time.monotonic() - start)


WHEEL_TARGETS = ("cpu", "cuda", "rocm")


def wheel_inputs_stamp(library: Path, source_dir: Path, platform_tag: str, image_id: str) -> str:
    """Everything the wheel is made of: the library, the Python package, the project and CMake
    files, the toolchain image, the tag. When none of them changed, the previous wheel is reused
    (so a no-op build stays a no-op, and a clean build with a warm cache skips pip)."""
    import hashlib  # noqa: PLC0415

    digest = hashlib.sha256(sha256_file(library).encode() + platform_tag.encode() + image_id.encode())
    for path in sorted([source_dir / "pyproject.toml", source_dir / "README.md", source_dir / "CMakeLists.txt",
                        *(source_dir / "cmake").glob("*.cmake"), *(source_dir / "vllm_ops").rglob("*.py")]):
        digest.update(str(path.relative_to(source_dir)).encode() + sha256_file(path).encode())
    return digest.hexdigest()


def build_wheel(client, cfg: EnvConfig, target: str, build_dir: Path, jobs: int, platform_tag: str, log,
                source_dir: Path, cache_key: str | None = None) -> Path:
    """scikit-build-core in the image (or the raw wheel cached under cache_key), then the variant
    version and proven tag on the host. The library inside must be the same bytes as the plain
    build's."""
    _, configure = build_script(cfg, target, jobs, True)
    command = wheel.build_command(configure, str(SRC), str(BUILD), WHEEL_CACHE if cache_key else None, cache_key)
    code = run_logged(client, cfg.image(target)["tag"], f"umask 022; {command}", build_dir / "wheel.log", log,
                      user=caller_user(), working_dir=str(BUILD),
                      environment={"SOURCE_DATE_EPOCH": str(cfg.source_date_epoch), "CCACHE_DIR": CCACHE,
                                   "HOME": "/tmp", "CMAKE_BUILD_PARALLEL_LEVEL": str(jobs)},
                      volumes={str(source_dir): {"bind": str(SRC), "mode": "ro"},
                               str(build_dir): {"bind": str(BUILD), "mode": "rw"},
                               CCACHE_VOLUME: {"bind": CCACHE, "mode": "rw"}})
    raw = sorted((build_dir / wheel.RAW_DIR).glob("*.whl"))
    if code != 0 or not raw:
        raise BuildEnvError(f"building the {target} wheel failed (exit {code}); log: {build_dir / 'wheel.log'}\n"
                            + first_error_lines(build_dir / "wheel.log"))
    final = wheel.finalize(raw[0], build_dir, wheel.variant(cfg, target), platform_tag, cfg.source_date_epoch)
    if wheel.library_in(final, LIBRARY_NAME) != (build_dir / LIBRARY_NAME).read_bytes():
        final.unlink()
        raise BuildEnvError(f"the {target} wheel's {LIBRARY_NAME} differs from the plain build's; "
                            "a build path or setting leaks into the binary")
    return final


def abi_summary(cfg: EnvConfig, library: Path) -> dict:
    """The audit's verdict for the manifest: minimum torch, provable platform tag."""
    report = abi.audit(library, find_header_torch(cfg).include_dir, cfg.target_abi_version)
    return {"ok": report.ok, "min_torch": report.min_torch_str, "platform_tag": report.manylinux_tag,
            "target_abi": cfg.target_abi}


def test_command(pytest_args: str) -> str:
    """Copy the package and tests out of the read-only source, drop in the artifact, run pytest."""
    return (
        "set -e; mkdir -p /tmp/w && cp -r /src/vllm_ops /src/buildenv /src/tests /src/pyproject.toml /tmp/w/ "
        f"&& cp {DIST}/{LIBRARY_NAME} {DIST}/{BUILD_INFO_NAME} /tmp/w/vllm_ops/ "
        f"&& cd /tmp/w && python3 -m pytest -p no:cacheprovider --ignore=tests/toolchain {pytest_args}"
    )


def test(client, cfg: EnvConfig, target: str, pytest_args: str = "", gpus: bool = False, log=print) -> int:
    if target == "rocm":
        raise BuildEnvError(
            "rocm artifacts cannot run here (no ROCm torch, no AMD GPU); they are compile-and-link "
            "verified: `invoke abi-check --target rocm`"
        )
    tag = require_image(client, cfg, target)
    artifact = dist_dir(target) / LIBRARY_NAME
    if not artifact.exists():
        raise BuildEnvError(f"no artifact at {artifact}; run `invoke build --target {target}` first")
    kwargs = {}
    if gpus:
        import docker  # noqa: PLC0415

        kwargs["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
    return run_logged(
        client, tag, test_command(pytest_args), None, log,
        user=caller_user(),
        environment={"HOME": "/tmp", "VLLM_OPS_REQUIRE_GPU": "1" if gpus else "0"},
        volumes={
            str(REPO_ROOT): {"bind": str(SRC), "mode": "ro"},
            str(dist_dir(target)): {"bind": DIST, "mode": "ro"},
        },
        **kwargs,
    )
