"""The build, step after step: compile → audit → wheel → publish (in the toolchain image), or
compile → install into vllm_ops/ (--native). Each step lives in its own module; this one only
puts them in order and collects what the summary shows. `step(name)` wraps each step (the CLI
shows progress and elapsed time there); `log` receives every output line."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from . import abi, container, images, publish, wheel
from .compile import (
    BUILD_INFO_NAME,
    LIBRARY_NAME,
    ccache_hits,
    compile_in_image,
    compile_native,
    find_header_torch,
    host_build_dir,
    install_into,
)
from .config import REPO_ROOT, EnvConfig
from .files import Log, sha256_file

Step = Callable[[str], AbstractContextManager]


def no_steps(name: str) -> AbstractContextManager:
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Artifact:
    path: Path
    sha256: str
    seconds: float | None = None
    cache: str | None = None  # what a cache saved, where known ("ccache 38/40 hits", "wheel cache")


@dataclass
class BuildResult:
    target: str
    library: Path
    sha256: str
    seconds: float
    artifacts: list[Artifact] = field(default_factory=list)


def _ccache_note(build_dir: Path) -> str | None:
    hits = ccache_hits(build_dir)
    return f"ccache {hits[0]}/{hits[1]} hits" if hits else None


def build_in_image(client, cfg: EnvConfig, target: str, jobs: int | None = None, log: Log = print,
                   source_dir: Path = REPO_ROOT, step: Step = no_steps) -> BuildResult:
    """Compile in the image, audit, build (or reuse) the wheel, publish to dist/<target>/ with a manifest."""
    start = time.monotonic()
    build_dir = host_build_dir(target)
    jobs = jobs or cfg.max_jobs(target)
    with step(f"compile {target}"):
        compile_in_image(client, cfg, target, build_dir, jobs, log, source_dir)
    compile_seconds = time.monotonic() - start
    library = build_dir / LIBRARY_NAME
    with step(f"audit {target}"):
        verdict = abi.verdict(library, find_header_torch(cfg).include_dir, cfg.target_abi)
    image = images.image_info(client, cfg.image(target)["tag"])
    with step(f"wheel {target}"):
        built = wheel.ensure(client, cfg, target, build_dir, jobs, verdict["platform_tag"], image["id"], log,
                             source_dir)
    with step(f"publish dist/{target}"):
        toolchain = json.loads((build_dir / "toolchain.json").read_text())
        published = publish.publish(cfg, target, build_dir, publish.dist_dir(target), image, toolchain,
                                    extra={"abi": verdict, "jobs": jobs})
    sha = sha256_file(published)
    artifacts = [Artifact(published, sha, compile_seconds, _ccache_note(build_dir)),
                 Artifact(published.parent / built.path.name, sha256_file(published.parent / built.path.name),
                          built.seconds, built.cache)]
    return BuildResult(target, published, sha, time.monotonic() - start, artifacts)


def build_native(cfg: EnvConfig, target: str, jobs: int | None = None, log: Log = print,
                 step: Step = no_steps) -> BuildResult:
    """Compile with this machine's toolchain and install the library into vllm_ops/."""
    start = time.monotonic()
    build_dir = REPO_ROOT / "build" / f"{target}-native"
    with step(f"compile {target} (native)"):
        compile_native(cfg, target, build_dir, jobs=jobs, log=log)
    installed = install_into(build_dir, REPO_ROOT / "vllm_ops")
    sha = sha256_file(installed)
    seconds = time.monotonic() - start
    return BuildResult(target, installed, sha, seconds, [Artifact(installed, sha, seconds)])


def clean(client=None, cfg: EnvConfig | None = None) -> list[str]:
    """Remove build/, dist/, the generated image contexts and the library installed in vllm_ops/;
    with a client, also the toolchain images and the compiler-cache volume, first (so an engine
    error leaves the files as they were). Returns what went."""
    removed = []
    if client is not None and cfg is not None:
        for key in ("cuda", "rocm"):
            tag = cfg.data["images"][key]["tag"]
            if images.image_exists(client, tag):
                client.images.remove(tag, force=True)
                removed.append(f"image {tag}")
        for volume in client.volumes.list(filters={"name": container.CCACHE_VOLUME}):
            volume.remove(force=True)
            removed.append(f"volume {container.CCACHE_VOLUME}")
    for path in ("build", "dist", ".cache/image-context"):
        if (REPO_ROOT / path).exists():
            shutil.rmtree(REPO_ROOT / path, ignore_errors=True)
            removed.append(path + "/")
    for name in (LIBRARY_NAME, BUILD_INFO_NAME):
        installed = REPO_ROOT / "vllm_ops" / name
        if installed.exists():
            installed.unlink()
            removed.append(f"vllm_ops/{name}")
    return removed
