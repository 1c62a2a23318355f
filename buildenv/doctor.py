"""`invoke doctor`: what this machine has for building and developing, one line per check, each
failing check with the command that fixes it. Every probe is a parameter, so tests run the
checks against fakes; `run_checks` wires in the real ones."""

from __future__ import annotations

import os
import shutil
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from . import engine, images
from .config import REPO_ROOT, EnvConfig, available_memory_gib
from .container import CCACHE_VOLUME

# Free disk a full round needs: two toolchain images (~2 GB each), their build cache, the
# wheelhouse, build trees of three targets and the compiler cache.
DISK_NEED_GIB = 20.0
DEVCONTAINER_CLI = "npm install -g @devcontainers/cli@0.89.0"  # the version the devcontainer test ran with


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_engine(connect=engine.connect) -> tuple[Check, object | None]:
    try:
        client = connect()
    except engine.EngineUnavailable as exc:
        return Check("engine", False, str(exc).split(". ")[0], engine.START_HINT), None
    version = client.version().get("Version", "?")
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return Check("engine", True, f"Docker {version} at {host}"), client


def check_disk(path: Path = REPO_ROOT, need_gib: float = DISK_NEED_GIB, usage=shutil.disk_usage) -> Check:
    free = usage(path).free / 2**30
    ok = free >= need_gib
    return Check("disk", ok, f"{free:.1f} GiB free at {path} (a full build round needs about {need_gib:.0f})",
                 "" if ok else f"free {need_gib - free:.1f} GiB more, e.g. `invoke clean --images` or "
                 "`docker system prune`")


def check_memory(cfg: EnvConfig, available_gib: float | None = None) -> Check:
    available = available_memory_gib() if available_gib is None else available_gib
    jobs = {target: cfg.max_jobs(target, available) for target in ("cpu", "cuda", "rocm")}
    detail = f"{available:.1f} GiB available: " + ", ".join(f"{t} {n} job{'s' * (n > 1)}" for t, n in jobs.items())
    ok = min(jobs.values()) >= 1 and available >= 2.0
    return Check("memory", ok, detail, "" if ok else "close other programs or set build.max_jobs: 1 in env.yaml")


def check_images(client, cfg: EnvConfig) -> list[Check]:
    """Each base image present; each toolchain image present and built from today's inputs."""
    if client is None:
        return [Check("images", False, "not checked: no engine", "start the engine (see `engine` above)")]
    checks = []
    for key in ("cuda", "rocm"):
        base = cfg.data["images"][key]["base"]["name"]
        tag = cfg.data["images"][key]["tag"]
        base_image = images.find_image(client, base)
        if base_image is None:
            checks.append(Check(f"base {key}", False, f"{base} missing", f"invoke base --image {key}"))
            checks.append(Check(f"image {key}", False, f"{tag}: needs its base first", f"invoke image --target {key}"))
            continue
        checks.append(Check(f"base {key}", True, f"{base} present"))
        toolchain = images.find_image(client, tag)
        if toolchain is None:
            checks.append(Check(f"image {key}", False, f"{tag} missing", f"invoke image --target {key}"))
            continue
        labels = (toolchain.attrs.get("Config") or {}).get("Labels") or {}
        current = labels.get(images.INPUTS_LABEL) == images.inputs_key(cfg, key, base_image.id)
        checks.append(Check(f"image {key}", current, f"{tag} " + ("current" if current else
                            "built from older inputs (Dockerfile, wheel lock, build arguments or base)"),
                            "" if current else f"invoke image --target {key}"))
    return checks


def check_gpu(which=shutil.which, exists=os.path.exists) -> Check:
    """Informational: a GPU is optional (CPU builds and tests run anywhere)."""
    found = []
    if which("nvidia-smi") or exists("/dev/nvidia0"):
        found.append("NVIDIA")
    if exists("/dev/kfd"):
        found.append("AMD (/dev/kfd)")
    detail = " and ".join(found) if found else "none: CPU tests run here, GPU tests on a GPU machine"
    return Check("gpu", True, detail)


def redis_reachable(url: str, timeout: float = 2.0) -> str | None:
    """None when a Redis server answers PING at url, else why not (said the way a fix needs)."""
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname or "localhost", parsed.port or 6379
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError as exc:
        return f"nothing answers at {host}:{port} ({exc.strerror or exc})"
    # An unauthenticated PING to a password-protected server gets -NOAUTH: reachable all the same.
    return None if reply.startswith((b"+PONG", b"-NOAUTH")) else f"{host}:{port} answers, but not as Redis"


def check_cache(client, remote: str | None = None) -> Check:
    if client is None:
        return Check("cache", False, "not checked: no engine", "start the engine (see `engine` above)")
    import docker  # noqa: PLC0415

    try:
        client.volumes.get(CCACHE_VOLUME)
        local = f"volume {CCACHE_VOLUME} (local ccache)"
    except docker.errors.NotFound:
        local = f"volume {CCACHE_VOLUME} not created yet: the first container build makes it"
    if remote is None:
        return Check("cache", True, local + "; no shared backend (env.yaml build.compiler_cache.remote)")
    problem = redis_reachable(remote)
    if problem:
        return Check("cache", False, f"{local}; shared backend {remote}: {problem}",
                     "start that Redis server, or set build.compiler_cache.remote to null for the local cache only")
    return Check("cache", True, f"{local}; shared backend {remote} answers")


def check_devcontainer_cli(which=shutil.which) -> Check:
    path = which("devcontainer")
    return Check("devcontainer", path is not None, path or "the Dev Containers CLI is not installed",
                 "" if path else DEVCONTAINER_CLI)


def run_checks(cfg: EnvConfig, connect=engine.connect) -> list[Check]:
    engine_check, client = check_engine(connect)
    return [engine_check, check_disk(), check_memory(cfg), *check_images(client, cfg), check_gpu(),
            check_cache(client, cfg.cache_remote), check_devcontainer_cli()]


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{'ok  ' if c.ok else 'FAIL'}  {c.name:<{width}}  {c.detail}")
        if c.fix:
            lines.append(f"{'':4}  {'':<{width}}  fix: {c.fix}")
    failing = sum(not c.ok for c in checks)
    summary = f"{len(checks) - failing} of {len(checks)} checks ok"
    lines.append(summary + (f"; {failing} need attention" if failing else ""))
    return "\n".join(lines)
