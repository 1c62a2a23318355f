"""Running commands in a toolchain image: fixed in-container paths (/src read-only, /build,
/ccache, /dist), the caller's UID/GID, the persistent compiler-cache volume, and output that
streams live into a log. What runs there is the business of the step that asks (compile, wheel,
suite)."""

from __future__ import annotations

import os
from pathlib import Path

from . import images
from .config import EnvConfig
from .errors import BuildEnvError
from .files import Log, lines_of

SRC = Path("/src")
BUILD = Path("/build")
CCACHE = "/ccache"
DIST = "/dist"
CCACHE_VOLUME = "vllm-ops-ccache"
# Written by the image build (docker/toolchain_info.py): the versions of every tool in it.
TOOLCHAIN_FILE = "/etc/vllm-ops/toolchain.json"


def build_environment(cfg: EnvConfig, use_ccache: bool = True) -> dict[str, str]:
    """The environment of every compile and wheel container. LC_CTYPE is set because ccache hashes
    the locale variables and Python (pip, scikit-build-core) sets LC_CTYPE=C.UTF-8 for its children
    when it finds the C locale (PEP 538): without it here, the wheel step's compiles missed every
    object the plain compile had just cached (measured: cpu 0/6 hits, and the ci-profile cuda
    wheel recompiled for 388 s in CI)."""
    if use_ccache:
        cache = {"CCACHE_REMOTE_STORAGE": cfg.cache_remote} if cfg.cache_remote else {}
    else:
        cache = {"CCACHE_DISABLE": "1"}
    return {"SOURCE_DATE_EPOCH": str(cfg.source_date_epoch), "CCACHE_DIR": CCACHE, "HOME": "/tmp",
            "LC_CTYPE": "C.UTF-8", **cache}


def caller_user() -> str:
    return f"{os.getuid()}:{os.getgid()}"


def require_image(client, cfg: EnvConfig, target: str) -> str:
    tag = cfg.image(target)["tag"]
    if not images.image_exists(client, tag):
        raise BuildEnvError(
            f"toolchain image {tag} is not built yet; run `invoke image --target {target}` "
            "(or `invoke build`, which builds it when missing)"
        )
    return tag


def ensure_ccache_volume(client, image_tag: str, volume: str = CCACHE_VOLUME) -> None:
    """Create the cache volume once, owned by the caller (volumes start out root-owned)."""
    import docker  # noqa: PLC0415

    try:
        client.volumes.get(volume)
    except docker.errors.NotFound:
        client.volumes.create(volume)
        client.containers.run(image_tag, ["chown", caller_user(), CCACHE], user="0:0", remove=True,
                              volumes={volume: {"bind": CCACHE, "mode": "rw"}})


def build_mounts(source_dir: Path, build_dir: Path, cache_volume: str | None = CCACHE_VOLUME) -> dict:
    """The source read-only at /src, the build directory at /build, the cache volume (if any) at
    /ccache."""
    volumes = {str(source_dir): {"bind": str(SRC), "mode": "ro"}, str(build_dir): {"bind": str(BUILD), "mode": "rw"}}
    if cache_volume:
        volumes[cache_volume] = {"bind": CCACHE, "mode": "rw"}
    return volumes


def run(client, image_tag: str, command: str, log_path: Path | None, log: Log = print, **kwargs) -> int:
    """Run `command` in a fresh container; each output line goes to `log` as it comes (and all
    of it into log_path). Returns the exit status."""
    container = client.containers.run(image_tag, ["bash", "-c", command], detach=True, **kwargs)
    try:
        for line in lines_of(container.logs(stream=True, follow=True), log_path):
            log(line)
        return container.wait()["StatusCode"]
    finally:
        container.remove(force=True)


def shell_command(tag: str, source_dir: Path, build_dir: Path) -> list[str]:
    """An interactive shell, source read-only at /src. docker-py has no interactive TTY attach
    worth the name; the CLI does this one thing."""
    return ["docker", "run", "--rm", "-it", "-u", caller_user(), "-v", f"{source_dir}:/src:ro", "-v",
            f"{build_dir}:/build", tag, "bash"]
