"""Wheels: scikit-build-core builds them inside the image; this module gives the result its
variant version (+cpu, +cu130, +rocm57) and the platform tag the ABI audit proves, and writes
the zip deterministically (sorted entries, fixed timestamps and modes)."""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import zipfile
from pathlib import Path

from .config import EnvConfig
from .errors import BuildEnvError

RAW_DIR = "wheel-out"  # in the build directory: scikit-build-core's output
TREE_DIR = "wheel-tree"  # its CMake build tree


def variant(cfg: EnvConfig, target: str) -> str:
    """Local version label per target: cpu, cu<major><minor>, rocm<major><minor>."""
    if target == "cpu":
        return "cpu"
    if target == "cuda":
        major, minor = cfg.data["cuda"]["toolkit_wheels"]["nvidia-cuda-nvcc"].split(".")[:2]
        return f"cu{major}{minor}"
    major, minor = re.match(r"(\d+)\.(\d+)", cfg.data["images"]["rocm"]["apt"]["hipcc"]).groups()
    return f"rocm{major}{minor}"


def build_command(configure_args: list[str], src: str, build: str, cache_dir: str | None = None,
                  cache_key: str | None = None) -> str:
    """pip wheel through scikit-build-core, with the same CMake definitions as the plain build.

    With a cache, a raw wheel is kept under cache_dir/<cache_key>.whl (the key hashes everything
    the wheel is made of) and reused instead of running pip again; the newest WHEEL_CACHE_SIZE
    are kept."""
    settings = [f"build-dir={build}/{TREE_DIR}"]
    for arg in configure_args:
        if arg.startswith("-D") and "=" in arg:
            name, value = arg[2:].split("=", 1)
            settings.append(f"cmake.define.{name}={value}")
    cmd = ["python3", "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-index",
           "-w", f"{build}/{RAW_DIR}", src]
    for setting in settings:
        cmd += ["--config-settings", setting]
    pip_wheel = f"rm -rf {build}/{RAW_DIR} && " + shlex.join(cmd)
    if not (cache_dir and cache_key):
        return pip_wheel
    cached = shlex.quote(f"{cache_dir}/{cache_key}.whl")
    raw = shlex.quote(f"{build}/{RAW_DIR}")
    return (
        f"if [ -f {cached} ]; then rm -rf {raw} && mkdir -p {raw} && cp {cached} {raw}/ "
        f"&& echo 'wheel: reused {cache_key[:12]} from the wheel cache'; "
        f"else {pip_wheel} && mkdir -p {shlex.quote(cache_dir)} "
        f"&& cp {raw}/*.whl {cached}.tmp && mv {cached}.tmp {cached} "
        f"&& (cd {shlex.quote(cache_dir)} && ls -t *.whl | tail -n +{WHEEL_CACHE_SIZE + 1} | xargs -r rm -f); fi"
    )


WHEEL_CACHE_SIZE = 20


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
    import time  # noqa: PLC0415

    return time.gmtime(max(epoch, 315532800))[:6]  # zip cannot store dates before 1980


def library_in(wheel: Path, library_name: str) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        match = [n for n in zf.namelist() if n.endswith("/" + library_name)]
        if not match:
            raise BuildEnvError(f"{wheel.name} holds no {library_name}")
        return zf.read(match[0])


def auditwheel_show(wheel_path: Path) -> tuple[bool, str]:
    """Run `auditwheel show` and check that the platform tag it derives from the wheel's symbol
    versions is the one in the wheel's file name."""
    import shutil  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    exe = shutil.which("auditwheel") or str(Path(sys.executable).parent / "auditwheel")
    result = subprocess.run([exe, "show", str(wheel_path)], capture_output=True, text=True)
    text = " ".join((result.stdout + result.stderr).split())
    tag = wheel_path.stem.rsplit("-", 1)[-1]
    return result.returncode == 0 and f'"{tag}"' in text, text
