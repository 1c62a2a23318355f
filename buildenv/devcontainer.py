"""Developing inside the toolchain image from an editor: .devcontainer/<name>/devcontainer.json
and CMakePresets.json, generated from env.yaml (`invoke devcontainer` writes them; a test fails
when the committed files drift from what this module renders).

Each devcontainer builds the same Dockerfile with the same build arguments as `invoke image`,
from the same build context (prepared on the host by its initializeCommand, so the engine's layer
cache makes the build a no-op after `invoke image`). The GPU is optional: the CLI adds the
NVIDIA GPUs when the host has them; `rocm-gpu` adds AMD's devices, for hosts that have them."""

from __future__ import annotations

import json
from pathlib import Path

from . import images
from .config import REPO_ROOT, EnvConfig
from .container import IMAGE_TORCH
from .native import cmake_configure_args

DEVCONTAINER_DIR = REPO_ROOT / ".devcontainer"
PRESETS_PATH = REPO_ROOT / "CMakePresets.json"
# Its own volume: created from the image's /ccache (mode 1777), so any remapped UID can write it.
CACHE_VOLUME = "vllm-ops-devcontainer-ccache"
EXTENSIONS = ["ms-vscode.cpptools", "ms-vscode.cmake-tools", "ms-python.python", "charliermarsh.ruff"]
# AMD GPUs in a container: the compute (kfd) and render (dri) devices and their groups. The render
# group's GID differs between hosts: `export VLLM_OPS_RENDER_GID=$(getent group render | cut -d: -f3)`.
AMD_RUN_ARGS = ["--device=/dev/kfd", "--device=/dev/dri", "--group-add=video",
                "--group-add=${localEnv:VLLM_OPS_RENDER_GID:109}", "--security-opt=seccomp=unconfined"]
# name -> (image key, extra docker run arguments)
VARIANTS = {"cuda": ("cuda", []), "rocm": ("rocm", []), "rocm-gpu": ("rocm", AMD_RUN_ARGS)}


def context_dir(key: str) -> Path:
    return images.CONTEXT_ROOT / key


def render(cfg: EnvConfig, name: str) -> dict:
    key, run_args = VARIANTS[name]
    context = Path("..", "..", context_dir(key).relative_to(REPO_ROOT))
    spec = {
        "name": f"vllm-ops {name}",
        # Host side, before the build: base image present, build context prepared.
        "initializeCommand": [".venv/bin/invoke", "devcontainer", "--prepare", key],
        "build": {"dockerfile": str(context / "Dockerfile"), "context": str(context),
                  "args": images.build_args(cfg, key)},
        "hostRequirements": {"gpu": "optional"},
        "remoteUser": "dev",
        "updateRemoteUserUID": True,
        "remoteEnv": {"HOME": "/home/dev"},
        "mounts": [{"source": CACHE_VOLUME, "target": "/ccache", "type": "volume"}],
        "customizations": {"vscode": {"extensions": EXTENSIONS,
                                      "settings": {"cmake.useCMakePresets": "always"}}},
    }
    if run_args:
        spec["runArgs"] = run_args
    return spec


def render_presets(cfg: EnvConfig) -> dict:
    """One configure and one build preset per target, with the cache variables `invoke build` passes
    (paths as inside the toolchain image)."""
    configure, build = [], []
    for target in ("cpu", "cuda", "rocm"):
        args = cmake_configure_args(cfg, target, IMAGE_TORCH, Path("${sourceDir}"),
                                    Path("${sourceDir}") / "build" / f"{target}-ide")
        cache = dict(a[2:].split("=", 1) for a in args if a.startswith("-D"))
        configure.append({"name": target, "displayName": f"{target} (as `invoke build --target {target}`)",
                          "generator": "Ninja", "binaryDir": f"${{sourceDir}}/build/{target}-ide",
                          "cacheVariables": cache})
        build.append({"name": target, "configurePreset": target})
    return {"version": 6, "configurePresets": configure, "buildPresets": build}


def rendered_files(cfg: EnvConfig) -> dict[Path, str]:
    files = {DEVCONTAINER_DIR / name / "devcontainer.json": render(cfg, name) for name in VARIANTS}
    files[PRESETS_PATH] = render_presets(cfg)
    return {path: json.dumps(spec, indent=2) + "\n" for path, spec in files.items()}


def write(cfg: EnvConfig) -> list[Path]:
    written = []
    for path, text in rendered_files(cfg).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def drifted(cfg: EnvConfig) -> list[Path]:
    """Committed files that differ from what env.yaml renders today."""
    return [path for path, text in rendered_files(cfg).items() if not path.exists() or path.read_text() != text]


def prepare(client, cfg: EnvConfig, key: str, log=print) -> Path:
    """What a devcontainer build needs on the host: the base image and the build context."""
    log(f"base: {images.bootstrap_base(client, cfg, key)}")
    context = images.prepare_context(cfg, key)
    log(f"context: {context}")
    return context
