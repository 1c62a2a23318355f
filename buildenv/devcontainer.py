"""Developing inside the toolchain image from an editor: .devcontainer/<name>/devcontainer.json
and CMakePresets.json, generated from env.yaml (`invoke devcontainer` writes them; a test fails
when the committed files drift from what this module renders).

Each devcontainer opens the toolchain image itself: its initializeCommand runs `invoke image` on
the host, which builds it from the Dockerfile and env.yaml's build arguments when it is missing or
stale and does nothing when it is current. (Pointing the CLI at the Dockerfile instead fails: it
inspects the final stage's base, which is `scratch`.) The GPU is optional: the CLI adds the
NVIDIA GPUs when the host has them; `rocm-gpu` adds AMD's devices, for hosts that have them."""

from __future__ import annotations

import json
from pathlib import Path

from .compile import IMAGE_TORCH, cmake_configure_args
from .config import REPO_ROOT, EnvConfig

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


def render(cfg: EnvConfig, name: str) -> dict:
    key, run_args = VARIANTS[name]
    spec = {
        "name": f"vllm-ops {name}",
        "initializeCommand": [".venv/bin/invoke", "image", "--target", key],
        "image": cfg.data["images"][key]["tag"],
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
