"""Reproducibility check in the spirit of Debian's reprotest: build a target twice from clean,
varying what must not matter, and compare the bytes.

Varied between the two builds: the checkout path, the host build directory, the time (the
builds run at different moments; the compiler sees only SOURCE_DATE_EPOCH), the user id, the
job count, the locale and timezone, and the umask. The compiler cache is off, so each build
really compiles. On a mismatch, diffoscope (when installed) says where the bytes differ.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import container
from .config import REPO_ROOT, EnvConfig
from .manifest import sha256_file

VARIANTS = (
    {"name": "a", "user": None, "jobs": 1, "umask": "022", "env": {"LANG": "C.UTF-8", "TZ": "UTC"}},
    {"name": "b", "user": "4321:4321", "jobs": 2, "umask": "077",
     "env": {"LANG": "fr_FR.UTF-8", "LC_ALL": "fr_FR.UTF-8", "TZ": "Asia/Tokyo"}},
)


@dataclass
class ReproResult:
    target: str
    sha256: tuple[str, str]
    difference: str = ""

    @property
    def identical(self) -> bool:
        return self.sha256[0] == self.sha256[1]


def export_tree(dest: Path, repo: Path = REPO_ROOT) -> None:
    """Copy the files git tracks (as they are in the working tree) to dest."""
    files = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src, dst = repo / name, dest / name
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def describe_difference(a: Path, b: Path) -> str:
    if shutil.which("diffoscope"):
        out = subprocess.run(["diffoscope", "--text", "-", str(a), str(b)], capture_output=True, text=True)
        return out.stdout[-6000:]
    out = subprocess.run(["cmp", "-l", str(a), str(b)], capture_output=True, text=True)
    lines = out.stdout.splitlines()
    return f"{len(lines)} bytes differ (install diffoscope for detail); first offsets:\n" + "\n".join(lines[:20])


def check(client, cfg: EnvConfig, target: str, log=print, keep: bool = False) -> ReproResult:
    root = Path(tempfile.mkdtemp(prefix="vllm-ops-repro-"))
    try:
        hashes = []
        libraries = []
        for variant in VARIANTS:
            checkout = root / f"checkout-{variant['name']}" / "nested" / "vllm-ops"
            build_dir = root / f"build-{variant['name']}-{target}"
            export_tree(checkout)
            build_dir.mkdir(parents=True)
            os.chmod(build_dir, 0o777)  # the second variant builds as another user
            log(f"repro {target}: build {variant['name']} in {checkout} as {variant['user'] or 'caller'}, "
                f"-j{variant['jobs']}, umask {variant['umask']}, {variant['env']}")
            library = container.compile_in_image(
                client, cfg, target, build_dir, variant["jobs"], log=lambda line: None,
                source_dir=checkout, user=variant["user"], env=variant["env"], umask=variant["umask"],
                use_ccache=False)
            libraries.append(library)
            hashes.append(sha256_file(library))
        result = ReproResult(target, (hashes[0], hashes[1]))
        if not result.identical:
            result.difference = describe_difference(*libraries)
        return result
    finally:
        if not keep:
            subprocess.run(["rm", "-rf", str(root)], check=False)
