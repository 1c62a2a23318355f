"""Python wheels for the toolchain images: resolved on the host, locked by sha256, installed in
the image with `--no-index --require-hashes`, so image builds never talk to a package index
(and need no TLS inside the container).

`docker/requirements-<image>.lock` is derived from env.yaml by `invoke lock`; a test checks that
it names exactly the versions env.yaml pins.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .config import REPO_ROOT, EnvConfig
from .errors import BuildEnvError
from .files import sha256_file

WHEELHOUSE = REPO_ROOT / ".cache" / "wheelhouse"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux_2_12_x86_64", "manylinux2010_x86_64")


def lock_path(image_key: str) -> Path:
    return REPO_ROOT / "docker" / f"requirements-{image_key}.lock"


def torch_requirement(cfg: EnvConfig) -> str:
    return f"torch=={cfg.torch_header_version}+{cfg.data['torch']['header_wheel_variant']}"


def pinned_requirements(cfg: EnvConfig, image_key: str) -> tuple[list[str], list[str]]:
    """(requirements resolved with their dependencies, requirements taken alone)."""
    image = cfg.data["images"][image_key]
    packages = [f"{n}=={v}" for n, v in image["python_packages"].items()]
    # torch: python installs torch with its dependencies into the image's interpreter; torch:
    # headers only unpacks the wheel, so it is taken alone.
    in_python = image["torch"] == "python"
    with_deps = ([torch_requirement(cfg)] if in_python else []) + packages
    alone = [] if in_python else [torch_requirement(cfg)]
    if image_key == "cuda":
        wheels = {**cfg.data["cuda"]["toolkit_wheels"], **cfg.data["cuda"]["cutlass_wheel"]}
        alone += [f"{n}=={v}" for n, v in wheels.items()]
    return with_deps, alone


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _wheel_name_version(filename: str) -> tuple[str, str]:
    name, version = filename.split("-")[:2]
    return _normalize(name), version


def _pip_download(args: list[str], dest: Path, python: str | None) -> None:
    """With `python`, resolve for that interpreter on manylinux x86_64; without, take the
    wheels as named (pure or platform wheels used only as archives)."""
    tags = []
    if python:
        tags = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
        for platform in PLATFORMS:
            tags += ["--platform", platform]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "-d", str(dest), *tags, *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildEnvError(f"pip download failed ({' '.join(args)}):\n{result.stderr.strip()[-2000:]}")


def resolve(cfg: EnvConfig, image_key: str, wheelhouse: Path = WHEELHOUSE) -> Path:
    """Download the pinned wheels and their dependencies; write the hash lock."""
    image = cfg.data["images"][image_key]
    dest = wheelhouse / image_key
    dest.mkdir(parents=True, exist_ok=True)
    with_deps, alone = pinned_requirements(cfg, image_key)
    if with_deps:
        _pip_download(with_deps, dest, image["python"])
    if alone:
        _pip_download(["--no-deps", *alone], dest, None)
    wanted = {_normalize(r.split("==")[0]): r.split("==")[1] for r in with_deps + alone}
    lines = []
    for wheel in sorted(dest.glob("*.whl")):
        name, version = _wheel_name_version(wheel.name)
        if name in wanted and wanted[name] != version:
            continue  # an older pin left in the wheelhouse
        lines.append(f"{name}=={version} --hash=sha256:{sha256_file(wheel)}  # {wheel.name}")
    path = lock_path(image_key)
    path.parent.mkdir(exist_ok=True)
    header = (f"# Derived from env.yaml by `invoke lock --image {image_key}`; do not edit.\n"
              f"# Checked against these hashes in the image build (pip --require-hashes or sha256sum).\n")
    path.write_text(header + "\n".join(lines) + "\n")
    return path


def read_lock(image_key: str) -> list[dict]:
    path = lock_path(image_key)
    if not path.exists():
        raise BuildEnvError(f"{path.relative_to(REPO_ROOT)} is missing; run `invoke lock --image {image_key}`")
    entries = []
    for line in path.read_text().splitlines():
        m = re.match(r"(\S+)==(\S+) --hash=sha256:([0-9a-f]{64})\s+#\s+(\S+)", line)
        if m:
            entries.append({"name": m[1], "version": m[2], "sha256": m[3], "file": m[4]})
    return entries


def check_lock_matches(cfg: EnvConfig, image_key: str) -> list[str]:
    """Problems between the lock and env.yaml's pins (empty when they agree)."""
    locked = {e["name"]: e["version"] for e in read_lock(image_key)}
    problems = []
    with_deps, alone = pinned_requirements(cfg, image_key)
    for req in with_deps + alone:
        name, version = req.split("==")
        name = _normalize(name)
        if locked.get(name) != version:
            problems.append(f"{name}: env.yaml pins {version}, lock has {locked.get(name)}")
    return problems


def require_lock_matches(cfg: EnvConfig, image_key: str) -> None:
    problems = check_lock_matches(cfg, image_key)
    if problems:
        raise BuildEnvError(
            f"docker/requirements-{image_key}.lock does not match env.yaml "
            f"({'; '.join(problems)}); run `invoke lock --image {image_key}`"
        )


def populate(cfg: EnvConfig, image_key: str, dest: Path, wheelhouse: Path = WHEELHOUSE) -> list[Path]:
    """Put every locked wheel, hash-verified, into `dest` (hard links where possible)."""
    require_lock_matches(cfg, image_key)
    source = wheelhouse / image_key
    entries = read_lock(image_key)
    missing = [e for e in entries if not (source / e["file"]).exists()]
    if missing:
        source.mkdir(parents=True, exist_ok=True)
        reqs = [f"{e['name']}=={e['version']}" for e in missing]
        _pip_download(["--no-deps", *reqs], source, None)
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for e in entries:
        wheel = source / e["file"]
        if not wheel.exists() or sha256_file(wheel) != e["sha256"]:
            raise BuildEnvError(f"wheel {e['file']} does not match its locked sha256 {e['sha256']}")
        target = dest / e["file"]
        if not target.exists():
            try:
                target.hardlink_to(wheel)
            except OSError:
                target.write_bytes(wheel.read_bytes())
        out.append(target)
    return out
