"""dist/<target>/: the published artifacts (library, build info, wheel) and their manifest,
written all-or-nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from .compile import BUILD_INFO_NAME, LIBRARY_NAME
from .config import REPO_ROOT, EnvConfig
from .files import sha256_file

MANIFEST_NAME = "manifest.json"


def dist_dir(target: str) -> Path:
    return REPO_ROOT / "dist" / target


def git_state(repo: Path = REPO_ROOT) -> dict:
    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit.stdout.strip() if commit.returncode == 0 else None,
        "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None,
    }


def build_manifest(cfg: EnvConfig, target: str, artifacts: dict[str, str], image: dict | None,
                   toolchain: dict, extra: dict | None = None) -> dict:
    return {
        "target": target,
        "profile": cfg.profile,
        "artifacts": artifacts,
        "env_yaml_sha256": cfg.sha256,
        "image": image,
        "toolchain": toolchain,
        "git": git_state(),
        "source_date_epoch": cfg.source_date_epoch,
        **(extra or {}),
    }


def publish(cfg: EnvConfig, target: str, build_dir: Path, dest: Path, image: dict | None,
            toolchain: dict, extra: dict | None = None) -> Path:
    """Copy the library and its build info into `dest` with a manifest, replacing `dest` only
    once everything is in place. Returns the published library path."""
    staging = dest.parent / f".{dest.name}.staging"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    artifacts = {}
    for name in (LIBRARY_NAME, BUILD_INFO_NAME):
        shutil.copyfile(build_dir / name, staging / name)
        artifacts[name] = sha256_file(staging / name)
    for wheel in sorted(build_dir.glob("*.whl")):
        shutil.copyfile(wheel, staging / wheel.name)
        artifacts[wheel.name] = sha256_file(staging / wheel.name)
    data = build_manifest(cfg, target, artifacts, image, toolchain, extra)
    (staging / MANIFEST_NAME).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    old = dest.parent / f".{dest.name}.old"
    if dest.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(dest, old)
    os.replace(staging, dest)
    if old.exists():
        shutil.rmtree(old)
    return dest / LIBRARY_NAME
