"""Reproducibility check in the spirit of Debian's reprotest: build a target twice from clean,
varying what must not matter, and compare the bytes.

Varied between the two builds: the checkout path, the host build directory, the time (the
builds run at different moments; the compiler sees only SOURCE_DATE_EPOCH), the user id, the
job count, the locale and timezone, and the umask. The compiler cache is off, so each build
really compiles. On a mismatch, diffoscope (when installed) says where the bytes differ.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import abi, wheel
from .compile import LIBRARY_NAME, compile_in_image, find_header_torch
from .config import REPO_ROOT, EnvConfig, load
from .errors import BuildEnvError
from .files import Log, export_tree, sha256_file

VARIANTS = (
    {"name": "a", "user": None, "jobs": 1, "umask": "022", "env": {"LANG": "C.UTF-8", "TZ": "UTC"}},
    {"name": "b", "user": "4321:4321", "jobs": 2, "umask": "077",
     "env": {"LANG": "fr_FR.UTF-8", "LC_ALL": "fr_FR.UTF-8", "TZ": "Asia/Tokyo"}},
)


@dataclass
class ReproResult:
    target: str
    sha256: tuple[str, str]
    wheel_sha256: tuple[str, str]
    seconds: tuple[float, float] = (0.0, 0.0)
    difference: str = ""

    @property
    def identical(self) -> bool:
        return self.sha256[0] == self.sha256[1] and self.wheel_sha256[0] == self.wheel_sha256[1]


def describe_difference(a: Path, b: Path) -> str:
    if shutil.which("diffoscope"):
        out = subprocess.run(["diffoscope", "--text", "-", str(a), str(b)], capture_output=True, text=True)
        return out.stdout[-6000:]
    out = subprocess.run(["cmp", "-l", str(a), str(b)], capture_output=True, text=True)
    lines = out.stdout.splitlines()
    return f"{len(lines)} bytes differ (install diffoscope for detail); first offsets:\n" + "\n".join(lines[:20])


def check(client, cfg: EnvConfig, target: str, log: Log = print, keep: bool = False) -> ReproResult:
    """The two builds' output goes to their build.log and wheel.log only; `log` gets one line per build."""
    root = Path(tempfile.mkdtemp(prefix="vllm-ops-repro-"))
    try:
        hashes, libraries, wheel_hashes, seconds = [], [], [], []
        # Both checkouts are taken now: the second build starts tens of minutes later (the full
        # CUDA arch list), and an edit to the working tree in between made the two differ.
        checkouts = [root / f"checkout-{variant['name']}" / "nested" / "vllm-ops" for variant in VARIANTS]
        for checkout in checkouts:
            export_tree(checkout)
        for variant, checkout in zip(VARIANTS, checkouts, strict=True):
            start = time.monotonic()
            build_dir = root / f"build-{variant['name']}-{target}"
            build_dir.mkdir(parents=True)
            os.chmod(build_dir, 0o777)  # the second variant builds as another user
            log(f"repro {target}: build {variant['name']} in {checkout} as {variant['user'] or 'caller'}, "
                f"-j{variant['jobs']}, umask {variant['umask']}, {variant['env']}")
            library = compile_in_image(
                client, cfg, target, build_dir, variant["jobs"], log=lambda line: None,
                source_dir=checkout, user=variant["user"], env=variant["env"], umask=variant["umask"],
                use_ccache=False)
            libraries.append(library)
            hashes.append(sha256_file(library))
            tag = abi.verdict(library, find_header_torch(cfg).include_dir, cfg.target_abi)["platform_tag"]
            built = wheel.build(client, cfg, target, build_dir, variant["jobs"], tag, lambda line: None, checkout)
            wheel_hashes.append(sha256_file(built))
            seconds.append(time.monotonic() - start)
        result = ReproResult(target, (hashes[0], hashes[1]), (wheel_hashes[0], wheel_hashes[1]),
                             (seconds[0], seconds[1]))
        if not result.identical:
            result.difference = describe_difference(*libraries)
        return result
    finally:
        if not keep:
            subprocess.run(["rm", "-rf", str(root)], check=False)


@dataclass
class VerifyResult:
    target: str
    expected: str
    rebuilt: str
    notes: list[str]

    @property
    def ok(self) -> bool:
        return self.expected == self.rebuilt


def verify_manifest(client, manifest_path: Path, log: Log = print) -> VerifyResult:
    """Rebuild the commit a manifest names, from clean and without the compiler cache, and compare."""
    data = json.loads(Path(manifest_path).read_text())
    commit, notes = data["git"]["commit"], []
    if not commit:
        raise BuildEnvError(f"{manifest_path} names no git commit")
    if data["git"]["dirty"]:
        notes.append("the manifest was written from a tree with uncommitted changes; the commit alone may differ")
    root = Path(tempfile.mkdtemp(prefix="vllm-ops-verify-"))
    try:
        source = root / "src"
        source.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", commit], capture_output=True)
        if archive.returncode != 0:
            raise BuildEnvError(f"commit {commit} is not in this repository: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
        cfg = load(source / "env.yaml", profile=data.get("profile"))
        if cfg.sha256 != data["env_yaml_sha256"]:
            notes.append("env.yaml at that commit does not hash to the manifest's env_yaml_sha256")
        image = data.get("image") or {}
        current = client.images.get(image.get("tag")).id if image.get("tag") else None
        if current and current != image.get("id"):
            notes.append(f"toolchain image is now {current[:19]}, the manifest used {image.get('id', '')[:19]}")
        log(f"verify: rebuilding {data['target']} at {commit[:12]} in {source}")
        build_dir = root / "build"
        library = compile_in_image(client, cfg, data["target"], build_dir, cfg.max_jobs(data["target"]),
                                   log=lambda line: None, source_dir=source, use_ccache=False)
        return VerifyResult(data["target"], data["artifacts"][LIBRARY_NAME], sha256_file(library), notes)
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)
