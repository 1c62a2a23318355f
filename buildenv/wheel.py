"""Wheels: scikit-build-core builds them inside the image from the same configure arguments as
the plain build; this module gives the result its variant version (+cpu, +cu130, +rocm57) and
the platform tag the ABI audit proves, and writes the zip deterministically (sorted entries,
fixed timestamps and modes). A wheel whose inputs did not change is reused, not rebuilt."""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import container
from .compile import CCACHE_STATS, LIBRARY_NAME, ccache_hits, image_configure_args, with_ccache_stats
from .config import REPO_ROOT, EnvConfig
from .errors import BuildEnvError
from .files import Log, first_error_lines, sha256_file

RAW_DIR = "wheel-out"  # in the build directory: scikit-build-core's output, at WHEEL_OUT in its container
# scikit-build-core's CMake tree, in the build directory. Its container mounts it at /build, where
# the plain build's tree is in the compile container, so every compile command (the file prefix
# maps name the binary dir) equals the plain build's and hits the compiler cache it just filled.
# ("wheel-tree", the name before, was configured at /build/wheel-tree: CMake would refuse it.)
TREE_DIR = "wheel-build"
WHEEL_OUT = "/wheel-out"
STAMP_FILE = "wheel-inputs.sha256"  # in the build directory: inputs_stamp of the wheel beside it
# Raw wheels by content key, beside the compiler cache (same volume, same lifetime).
WHEEL_CACHE = f"{container.CCACHE}/vllm-ops-wheels"
WHEEL_CACHE_SIZE = 20
REUSED_MARK = "from the wheel cache"  # build_command's line when it takes the cached raw wheel


def variant(cfg: EnvConfig, target: str) -> str:
    """Local version label per target: cpu, cu<major><minor>, rocm<major><minor>."""
    if target == "cpu":
        return "cpu"
    if target == "cuda":
        major, minor = cfg.data["cuda"]["toolkit_wheels"]["nvidia-cuda-nvcc"].split(".")[:2]
        return f"cu{major}{minor}"
    major, minor = re.match(r"(\d+)\.(\d+)", cfg.data["images"]["rocm"]["apt"]["hipcc"]).groups()
    return f"rocm{major}{minor}"


def build_command(configure_args: list[str], src: str, tree: str, out: str, cache_dir: str | None = None,
                  cache_key: str | None = None) -> str:
    """pip wheel through scikit-build-core, with the same CMake definitions as the plain build, its
    CMake tree in `tree` and the raw wheel written into `out` (an empty directory).

    With a cache, a raw wheel is kept under cache_dir/<cache_key>.whl (the key hashes everything
    the wheel is made of) and reused instead of running pip again; the newest WHEEL_CACHE_SIZE
    are kept."""
    settings = [f"build-dir={tree}"]
    for arg in configure_args:
        if arg.startswith("-D") and "=" in arg:
            name, value = arg[2:].split("=", 1)
            settings.append(f"cmake.define.{name}={value}")
    cmd = ["python3", "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-index",
           "-w", out, src]
    for setting in settings:
        cmd += ["--config-settings", setting]
    # ccache's counters around pip, as around the plain compile: the wheel reports its hits too.
    pip_wheel = with_ccache_stats(shlex.join(cmd))
    if not (cache_dir and cache_key):
        return pip_wheel
    cached = shlex.quote(f"{cache_dir}/{cache_key}.whl")
    raw = shlex.quote(out)
    return (
        f"if [ -f {cached} ]; then cp {cached} {raw}/ "
        f"&& echo 'wheel: reused {cache_key[:12]} {REUSED_MARK}'; "
        f"else {pip_wheel} && mkdir -p {shlex.quote(cache_dir)} "
        f"&& cp {raw}/*.whl {cached}.tmp && mv {cached}.tmp {cached} "
        f"&& (cd {shlex.quote(cache_dir)} && ls -t *.whl | tail -n +{WHEEL_CACHE_SIZE + 1} | xargs -r rm -f); fi"
    )



def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def finalize(raw: Path, dest_dir: Path, local: str, platform_tag: str, epoch: int) -> Path:
    """Rewrite `raw` as <name>-<version>+<local>-py3-none-<platform_tag>.whl in dest_dir."""
    with zipfile.ZipFile(raw) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist() if not info.is_dir()}
    dist_info = next(n.split("/")[0] for n in entries if n.split("/")[0].endswith(".dist-info"))
    name, version = dist_info[: -len(".dist-info")].rsplit("-", 1)
    new_version = f"{version.split('+')[0]}+{local}"
    new_dist_info = f"{name}-{new_version}.dist-info"
    out: dict[str, bytes] = {}
    for path, data in entries.items():
        top, _, rest = path.partition("/")
        if top == dist_info:
            if rest == "RECORD":
                continue
            if rest == "METADATA":
                data = re.sub(rb"^Version: .*$", f"Version: {new_version}".encode(), data, count=1, flags=re.M)
            if rest == "WHEEL":
                data = re.sub(rb"^Tag: .*$", f"Tag: py3-none-{platform_tag}".encode(), data, flags=re.M)
            path = f"{new_dist_info}/{rest}"
        out[path] = data
    record_name = f"{new_dist_info}/RECORD"
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in sorted(out.items()))
    out[record_name] = (record + f"{record_name},,\n").encode()
    wheel = dest_dir / f"{name}-{new_version}-py3-none-{platform_tag}.whl"
    date = _zip_date(epoch)
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        # RECORD last, everything else sorted: the order no tool should care about, fixed anyway.
        for path in sorted(p for p in out if p != record_name) + [record_name]:
            info = zipfile.ZipInfo(path, date_time=date)
            info.external_attr = (0o755 if path.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, out[path])
    return wheel


def _zip_date(epoch: int) -> tuple:
    return time.gmtime(max(epoch, 315532800))[:6]  # zip cannot store dates before 1980


def library_in(wheel: Path, library_name: str) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        match = [n for n in zf.namelist() if n.endswith("/" + library_name)]
        if not match:
            raise BuildEnvError(f"{wheel.name} holds no {library_name}")
        return zf.read(match[0])


def inputs_stamp(library: Path, source_dir: Path, platform_tag: str, image_id: str) -> str:
    """Everything the wheel is made of: the library, the Python package, the project and CMake
    files, the toolchain image, the tag. When none of them changed, the previous wheel is reused
    (so a no-op build stays a no-op, and a clean build with a warm cache skips pip)."""
    digest = hashlib.sha256(sha256_file(library).encode() + platform_tag.encode() + image_id.encode())
    for path in sorted([source_dir / "pyproject.toml", source_dir / "README.md", source_dir / "CMakeLists.txt",
                        *(source_dir / "cmake").glob("*.cmake"), *(source_dir / "vllm_ops").rglob("*.py")]):
        digest.update(str(path.relative_to(source_dir)).encode() + sha256_file(path).encode())
    return digest.hexdigest()


def build(client, cfg: EnvConfig, target: str, build_dir: Path, jobs: int, platform_tag: str,
          log: Log = print, source_dir: Path = REPO_ROOT, cache_key: str | None = None,
          cache_volume: str = container.CCACHE_VOLUME) -> Path:
    """scikit-build-core in the image (or the raw wheel cached under cache_key), then the variant
    version and proven tag on the host. The library inside must be the same bytes as the plain
    build's, which is in build_dir. The compiler cache is `cache_volume`, the plain compile's;
    ccache_hits(build_dir / TREE_DIR) then counts what pip's compiles found there."""
    command = build_command(image_configure_args(cfg, target), str(container.SRC), str(container.BUILD), WHEEL_OUT,
                            WHEEL_CACHE if cache_key else None, cache_key)
    log_path = build_dir / "wheel.log"
    raw_dir, tree = build_dir / RAW_DIR, build_dir / TREE_DIR
    shutil.rmtree(raw_dir, ignore_errors=True)
    raw_dir.mkdir()
    tree.mkdir(exist_ok=True)  # made here, as the caller: the engine would create a missing one as root
    for name in CCACHE_STATS:
        (tree / name).unlink(missing_ok=True)
    volumes = {**container.build_mounts(source_dir, tree, cache_volume),
               str(raw_dir): {"bind": WHEEL_OUT, "mode": "rw"}}
    code = container.run(client, cfg.image(target)["tag"], f"umask 022; {command}", log_path, log,
                         user=container.caller_user(), working_dir=str(container.BUILD),
                         environment={**container.build_environment(cfg), "CMAKE_BUILD_PARALLEL_LEVEL": str(jobs)},
                         volumes=volumes)
    raw = sorted(raw_dir.glob("*.whl"))
    if code != 0 or not raw:
        raise BuildEnvError(f"building the {target} wheel failed (exit {code}); log: {log_path}\n"
                            + first_error_lines(log_path))
    final = finalize(raw[0], build_dir, variant(cfg, target), platform_tag, cfg.source_date_epoch)
    if library_in(final, LIBRARY_NAME) != (build_dir / LIBRARY_NAME).read_bytes():
        final.unlink()
        raise BuildEnvError(f"the {target} wheel's {LIBRARY_NAME} differs from the plain build's; "
                            "a build path or setting leaks into the binary")
    return final


@dataclass(frozen=True)
class WheelResult:
    path: Path
    seconds: float
    cache: str  # "inputs unchanged", "wheel cache" or "built"


def ensure(client, cfg: EnvConfig, target: str, build_dir: Path, jobs: int, platform_tag: str, image_id: str,
           log: Log = print, source_dir: Path = REPO_ROOT) -> WheelResult:
    """The wheel for the library in build_dir: the one already beside it when its inputs_stamp is
    unchanged, else the raw wheel from the wheel cache, else a fresh pip build."""
    start = time.monotonic()
    stamp = inputs_stamp(build_dir / LIBRARY_NAME, source_dir, platform_tag, image_id)
    stamp_file = build_dir / STAMP_FILE
    current = sorted(build_dir.glob("*.whl"))
    if current and stamp_file.exists() and stamp_file.read_text() == stamp:
        return WheelResult(current[0], time.monotonic() - start, "inputs unchanged")
    for stale in current:
        stale.unlink()
    reused = []

    def watch(line: str) -> None:
        if REUSED_MARK in line:
            reused.append(line)
        log(line)

    path = build(client, cfg, target, build_dir, jobs, platform_tag, watch, source_dir, cache_key=stamp)
    stamp_file.write_text(stamp)
    if reused:
        return WheelResult(path, time.monotonic() - start, "wheel cache")
    hits = ccache_hits(build_dir / TREE_DIR)
    return WheelResult(path, time.monotonic() - start, f"built, ccache {hits[0]}/{hits[1]} hits" if hits else "built")
