"""Base images and toolchain images.

A base image is pulled by digest where env.yaml gives a registry reference and a registry is
reachable; otherwise it is bootstrapped locally with debootstrap from the Debian mirror that
env.yaml names and imported under the configured name. Toolchain images are built from
Dockerfile.cuda / Dockerfile.rocm with every pin passed as a build argument.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import wheelhouse
from .config import REPO_ROOT, EnvConfig
from .errors import BuildEnvError

CONTEXT_ROOT = REPO_ROOT / ".cache" / "image-context"
# Label on each toolchain image: the hash of everything it was built from (inputs_key).
INPUTS_LABEL = "org.vllm-ops.inputs"


class BaseImageMissing(BuildEnvError):
    pass


def image_key(target: str) -> str:
    return "rocm" if target == "rocm" else "cuda"


def find_image(client, name: str):
    """The engine's image under `name`, or None."""
    import docker  # noqa: PLC0415

    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        return None


def image_exists(client, name: str) -> bool:
    return find_image(client, name) is not None


def require_base(client, cfg: EnvConfig, key: str) -> str:
    """The id of the target's base image, which must be in the local engine."""
    base = cfg.data["images"][key]["base"]
    image = find_image(client, base["name"])
    if image is None:
        raise BaseImageMissing(
            f"base image {base['name']} (env.yaml images.{key}.base) is not in the local engine. "
            f"Create it with `invoke base --image {key}` (debootstraps Debian {base['suite']} from "
            f"{cfg.data['debian']['mirror']}), or `invoke build` does it for you unless --no-base."
        )
    return image.id


def debootstrap_command(suite: str, rootfs: Path, mirror: str) -> list[str]:
    return ["debootstrap", "--variant=minbase", suite, str(rootfs), mirror]


def bootstrap_base(client, cfg: EnvConfig, key: str, log=print) -> str:
    """Make images.<key>.base available; returns which path was taken."""
    base = cfg.data["images"][key]["base"]
    if image_exists(client, base["name"]):
        return f"{base['name']}: already present"
    if base["ref"]:
        try:
            image = client.images.pull(base["ref"])
            image.tag(*base["name"].split(":", 1))
            return f"{base['name']}: pulled {base['ref']}"
        except Exception as exc:  # noqa: BLE001 - any registry failure falls back to debootstrap
            log(f"base: pulling {base['ref']} failed ({exc}); bootstrapping locally instead")
    if shutil.which("debootstrap") is None:
        raise BuildEnvError("debootstrap is not installed; `sudo apt-get install -y debootstrap`")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vllm-ops-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = debootstrap_command(base["suite"], rootfs, cfg.data["debian"]["mirror"])
        log(f"base: {' '.join(cmd)}")
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildEnvError(f"debootstrap failed:\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}")
        # Point apt at the same pinned mirror and keep image layers small.
        (rootfs / "etc/apt/apt.conf.d/90vllm-ops").write_text(
            'APT::Install-Recommends "false";\nAcquire::Check-Valid-Until "false";\n'
        )
        tarball = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tarball), "."], check=True)
        repo, tag = base["name"].split(":", 1)
        with open(tarball, "rb") as f:
            client.api.import_image_from_data(f, repository=repo, tag=tag)
    return f"{base['name']}: bootstrapped Debian {base['suite']} with debootstrap ({time.monotonic() - start:.0f} s)"


def build_args(cfg: EnvConfig, key: str) -> dict[str, str]:
    image = cfg.data["images"][key]
    args = {
        "BASE_IMAGE": image["base"]["name"],
        "APT_PACKAGES": " ".join(f"{n}={v}" for n, v in sorted(image["apt"].items())),
    }
    return args


def prepare_context(cfg: EnvConfig, key: str) -> Path:
    """A build context holding only the Dockerfile, the lock and the locked wheels."""
    image = cfg.data["images"][key]
    context = CONTEXT_ROOT / key
    if context.exists():
        shutil.rmtree(context)
    context.mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / image["dockerfile"], context / "Dockerfile")
    shutil.copyfile(wheelhouse.lock_path(key), context / "requirements.lock")
    shutil.copyfile(REPO_ROOT / "docker" / "toolchain_info.py", context / "toolchain_info.py")
    wheelhouse.populate(cfg, key, context / "wheels")
    (context / "ca-bundle.crt").write_bytes(ca_bundle_for(cfg.data["debian"]["mirror"]))
    return context


def ca_bundle_for(mirror: str) -> bytes:
    """The host's CA bundle (SSL_CERT_FILE or PIP_CERT) when apt in the image must reach an https
    mirror, which may sit behind a TLS-intercepting proxy; empty otherwise."""
    if not mirror.startswith("https://"):
        return b""
    for var in ("SSL_CERT_FILE", "PIP_CERT"):
        path = os.environ.get(var)
        if path and Path(path).is_file():
            return Path(path).read_bytes()
    return b""


@dataclass(frozen=True)
class ImageResult:
    tag: str
    image_id: str
    size_bytes: int
    seconds: float
    cache: str = ""  # "inputs unchanged", or how many build steps the engine's layer cache answered


def inputs_key(cfg: EnvConfig, key: str, base_id: str) -> str:
    """The hash of everything a toolchain image is built from: its Dockerfile, the wheel lock
    (which pins every wheel by sha256), the toolchain-info script, the build arguments and the
    base image's id (require_base). (A CA bundle only reaches the build stage, so it is left out.)"""
    image = cfg.data["images"][key]
    digest = hashlib.sha256()
    for part in ((REPO_ROOT / image["dockerfile"]).read_bytes(), wheelhouse.lock_path(key).read_bytes(),
                 (REPO_ROOT / "docker" / "toolchain_info.py").read_bytes(),
                 json.dumps(build_args(cfg, key), sort_keys=True).encode(),
                 base_id.encode()):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def build_image(client, cfg: EnvConfig, key: str, log=print, force: bool = False) -> ImageResult:
    """Build the toolchain image, unless an image under its tag was built from the same inputs
    (then no build context, hundreds of MB of wheels, is sent to the engine; `force` builds anyway)."""
    base_id = require_base(client, cfg, key)
    start = time.monotonic()
    tag = cfg.data["images"][key]["tag"]
    inputs = inputs_key(cfg, key, base_id)
    current = None if force else find_image(client, tag)
    if current is not None:
        if ((current.attrs.get("Config") or {}).get("Labels") or {}).get(INPUTS_LABEL) == inputs:
            wheelhouse.require_lock_matches(cfg, key)
            log(f"image {tag} is up to date: built from the same Dockerfile, wheel lock, build arguments and "
                "base image (--force rebuilds it)")
            return ImageResult(tag, current.id, current.attrs.get("Size", 0), time.monotonic() - start,
                               "inputs unchanged")
    context = prepare_context(cfg, key)
    tail: list[str] = []
    steps = cached = 0
    for chunk in client.api.build(path=str(context), tag=tag, buildargs=build_args(cfg, key),
                                  labels={INPUTS_LABEL: inputs}, rm=True, forcerm=True, decode=True):
        if "error" in chunk:
            raise BuildEnvError(f"building image {tag} failed: {chunk['error'].strip()}\n" + "\n".join(tail))
        for text in chunk.get("stream", "").splitlines():
            if text.strip():
                log(text)
                tail = (tail + [text])[-40:]
                steps += text.startswith("Step ")
                cached += text.strip() == "---> Using cache"
    image = client.images.get(tag)
    return ImageResult(tag, image.id, image.attrs.get("Size", 0), time.monotonic() - start,
                       f"{cached}/{steps} steps cached")


def ensure_image(client, cfg: EnvConfig, key: str, log=print, step=lambda name: contextlib.nullcontext()) -> None:
    """Bootstrap the base and build the toolchain image when the image is missing (a present one
    is used as it is: `invoke image` rebuilds a stale one)."""
    if not image_exists(client, cfg.data["images"][key]["tag"]):
        with step(f"base {key}"):
            log(f"base: {bootstrap_base(client, cfg, key, log)}")
        with step(f"image {key}"):
            build_image(client, cfg, key, log)


def image_info(client, tag: str) -> dict:
    image = client.images.get(tag)
    return {"tag": tag, "id": image.id, "size_bytes": image.attrs.get("Size", 0)}
