"""Load and validate env.yaml, the single file of pins.

The schema is a nested dict of validators. Every check reports the dotted key it is about,
so a wrong value in env.yaml is fixed by reading one line of output.
"""

from __future__ import annotations

import hashlib
import keyword
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ENV_FILE = REPO_ROOT / "env.yaml"
TARGETS = ("cpu", "cuda", "rocm")

Validator = Callable[[str, Any], Any]


def _yaml_hint(value: Any, want: str) -> str:
    """What to write instead, where YAML's reading of a plain scalar is the likely cause.
    want: "int", "number" or "string"."""
    if want in ("int", "number") and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return ""
        if not math.isfinite(number):
            return ""
        if want == "int":
            return f" (YAML reads {value} as a string; write {int(number)} instead)" if number.is_integer() else ""
        return f" (YAML reads {value} as a string; write {number!r} instead)"
    if want == "string" and isinstance(value, float):
        return f' (YAML reads an unquoted {value!r} as a number, dropping trailing zeros; quote it: "X.Y")'
    return ""


def _fail(key: str, expected: str, value: Any, hint: str = "") -> None:
    raise ConfigError(f"env.yaml: {key} must be {expected}, got {value!r}{hint}")


def _string(pattern: str, expected: str) -> Validator:
    regex = re.compile(pattern)

    def check(key: str, value: Any) -> str:
        if not isinstance(value, str) or not regex.fullmatch(value):
            _fail(key, expected, value, _yaml_hint(value, "string"))
        return value

    return check


def _positive_int(key: str, value: Any, at_most: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (at_most and value > at_most):
        expected = f"an integer from 1 to {at_most}" if at_most else "a positive integer"
        _fail(key, expected, value, _yaml_hint(value, "int"))
    return value


def _positive_number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        _fail(key, "a positive finite number", value, _yaml_hint(value, "number"))
    return float(value)


# More parallel compile jobs than this is a typo, not a machine (each job holds GiBs).
MAX_JOBS = 1024


def _jobs(key: str, value: Any) -> int | str:
    if value == "auto":
        return value
    return _positive_int(key, value, at_most=MAX_JOBS)


SCHEMA_VERSIONS = (1,)  # the env.yaml layouts this code reads


def _schema_version(key: str, value: Any) -> int:
    version = _positive_int(key, value)
    if version not in SCHEMA_VERSIONS:
        _fail(key, f"a schema version this checkout reads ({', '.join(map(str, SCHEMA_VERSIONS))})", value)
    return version


# Namespaces an extension must not register into: torch's own, and names Python cannot use as
# the attribute torch.ops.<namespace>.
RESERVED_NAMESPACES = ("aten", "prim", "prims", "torch", "ops", "quantized", "_ops", "c10")


def _namespace(key: str, value: Any) -> str:
    _identifier(key, value)
    if value in RESERVED_NAMESPACES or keyword.iskeyword(value) or (value.startswith("__") and value.endswith("__")):
        _fail(key, "an op namespace of our own (not torch's, a Python keyword or a dunder name)", value)
    return value


def _list_of(item: Validator, expected: str) -> Validator:
    def check(key: str, value: Any) -> list:
        if not isinstance(value, list) or not value:
            _fail(key, f"a non-empty list of {expected}", value)
        return [item(f"{key}[{i}]", v) for i, v in enumerate(value)]

    return check


_version = _string(r"\d+\.\d+\.\d+", 'a version "X.Y.Z"')
_loose_version = _string(r"[0-9][0-9A-Za-z.+~:-]*", "a package version string")
_package_name = r"[A-Za-z0-9][A-Za-z0-9_.+-]*"
_abi = _string(r"\d+\.\d+", 'a version "X.Y"')
_identifier = _string(r"[A-Za-z_][A-Za-z0-9_]*", "a C identifier")
# "9.0a": sm_90a SASS; "8.0+PTX": sm_80 SASS and compute_80 PTX (newer GPUs JIT-compile it).
_cuda_arch = _string(r"\d+\.\d+a?(\+PTX)?", 'a CUDA arch such as "9.0a", "8.0" or "8.0+PTX"')
_rocm_arch = _string(r"gfx[0-9a-f]+", 'an AMD arch such as "gfx942"')


def _version_map(key: str, value: Any) -> dict:
    """package name -> exact version; an empty mapping is allowed."""
    if not isinstance(value, dict):
        _fail(key, "a mapping of package name to version", value)
    for name, version in value.items():
        if not isinstance(name, str) or not re.fullmatch(_package_name, name):
            _fail(f"{key}", "keyed by package names", name)
        _loose_version(f"{key}.{name}", version)
    return dict(value)


def _optional_image_ref(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}", value):
        _fail(key, "null or an image reference pinned by digest (name@sha256: and 64 hex digits)", value)
    return value


BACKENDS = ("cpu", "cuda", "rocm")
CUDA_ONLY_DEPENDENCIES = ("cutlass",)
_source_path = _string(r"csrc/[A-Za-z0-9_./-]+\.(cpp|cu)", "a source path under csrc/ ending in .cpp or .cu")


def _optional_list(item: Validator, expected: str) -> Validator:
    def check(key: str, value: Any) -> list:
        if not isinstance(value, list):
            _fail(key, f"a list of {expected}", value)
        return [item(f"{key}[{i}]", v) for i, v in enumerate(value)]

    return check


_FAMILY = {
    "backends": _list_of(_string("|".join(BACKENDS), " or ".join(BACKENDS)), "backends"),
    # CPU implementations: compiled into every target, so GPU builds also run on CPU tensors.
    "host_sources": _optional_list(_source_path, "sources"),
    # GPU kernels: compiled with nvcc for cuda and as HIP for rocm, as `backends` says.
    "gpu_sources": _optional_list(_source_path, "sources"),
    "dependencies": _optional_list(_string("|".join(CUDA_ONLY_DEPENDENCIES), "cutlass"), "dependencies"),
}


def _families(key: str, value: Any) -> dict:
    """Op families: name -> what it builds from and for (kernel-builder's build.toml, in env.yaml)."""
    if not isinstance(value, dict) or not value:
        _fail(key, "a mapping of family name -> {backends, host_sources, gpu_sources, dependencies[, cuda_archs]}",
              value)
    out = {}
    for name, family in value.items():
        fkey = f"{key}.{_identifier(f'{key} name', name)}"
        # Optional: the CUDA archs a family's kernels are written for (CUTLASS's sm90a collectives
        # exist only for 9.0a); the build compiles it for those of them in its own list. Absent: all.
        family = dict(family) if isinstance(family, dict) else family
        narrowed = family.pop("cuda_archs", []) if isinstance(family, dict) else []
        family = _validate(_FAMILY, family, fkey)
        family["cuda_archs"] = _optional_list(_cuda_arch, "CUDA archs")(f"{fkey}.cuda_archs", narrowed)
        if family["cuda_archs"] and family["backends"] != ["cuda"]:
            raise ConfigError(f"env.yaml: {fkey}.cuda_archs is only for CUDA-only families (backends: [cuda])")
        if any(arch.endswith("+PTX") for arch in family["cuda_archs"]):
            raise ConfigError(f"env.yaml: {fkey}.cuda_archs names archs to compile for; +PTX belongs in "
                              "cuda.arch_list")
        backends = family["backends"]
        if ("cpu" in backends) != bool(family["host_sources"]):
            raise ConfigError(f"env.yaml: {fkey}.host_sources must be given exactly when backends has cpu")
        if bool({"cuda", "rocm"} & set(backends)) != bool(family["gpu_sources"]):
            raise ConfigError(f"env.yaml: {fkey}.gpu_sources must be given exactly when backends has cuda or "
                              "rocm")
        if "rocm" in backends and "cuda" not in backends:
            raise ConfigError(f"env.yaml: {fkey}.backends: a family with rocm also builds for cuda (one set of "
                              "GPU sources serves both)")
        cuda_only = set(family["dependencies"]) & set(CUDA_ONLY_DEPENDENCIES)
        if cuda_only and "rocm" in backends:
            raise ConfigError(f"env.yaml: {fkey}.backends must not include rocm: {sorted(cuda_only)[0]} is CUDA-only")
        out[name] = family
    return out


def _optional_cache_remote(key: str, value: Any) -> str | None:
    """null (the local cache only) or a Redis endpoint for ccache's remote storage."""
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"redis://([^@/\s]+@)?[A-Za-z0-9._-]+(:\d{1,5})?(/\d+)?", value):
        _fail(key, "null or a Redis endpoint redis://[user:password@]host[:port][/db]", value)
    return value


_image_name = _string(r"[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?", "a docker image name[:tag]")

_IMAGE = {
    "dockerfile": _string(r"[A-Za-z0-9_./-]+", "a Dockerfile path"),
    "tag": _image_name,
    "base": {
        "name": _image_name,
        "suite": _string(r"[a-z]+", "a Debian suite name such as bookworm"),
        "ref": _optional_image_ref,
    },
    "python": _abi,
    "torch": _string(r"python|headers", "python or headers"),
    "apt": _version_map,
    "python_packages": _version_map,
}

SCHEMA: dict[str, Any] = {
    "schema_version": _schema_version,
    "ops": {"namespace": _namespace},
    "torch": {
        "header_version": _version,
        "header_wheel_variant": _string(r"[a-z0-9]+", "a wheel variant such as cpu"),
        "target_abi": _abi,
    },
    "cuda": {
        "arch_list": _list_of(_cuda_arch, "CUDA archs"),
        "toolkit_wheels": _version_map,
        "cutlass_wheel": _version_map,
    },
    "rocm": {"arch_list": _list_of(_rocm_arch, "AMD archs")},
    "debian": {"mirror": _string(r"https?://\S+", "an http(s) URL")},
    "images": {"cuda": _IMAGE, "rocm": _IMAGE},
    "build": {
        "max_jobs": _jobs,
        "nvcc_threads": _positive_int,
        "job_peak_gib": {t: _positive_number for t in TARGETS},
        "source_date_epoch": _positive_int,
        "compiler_cache": {"remote": _optional_cache_remote},
    },
    "families": _families,
    "profiles": None,  # validated separately: each profile is a partial tree of this schema
}


def _validate(spec: dict, data: Any, prefix: str, partial: bool = False) -> dict:
    where = prefix or "the top level"
    if not isinstance(data, dict):
        _fail(where, "a mapping", data)
    unknown = sorted(set(data) - set(spec))
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"env.yaml: unknown key {key} (allowed here: {', '.join(spec)})")
    out = {}
    for name, rule in spec.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in data:
            if partial or rule is None:
                continue
            raise ConfigError(f"env.yaml: missing key {key}")
        if rule is None:
            out[name] = data[name]
        elif isinstance(rule, dict):
            out[name] = _validate(rule, data[name], key, partial)
        else:
            out[name] = rule(key, data[name])
    return out


def _merge(base: dict, overlay: dict) -> dict:
    merged = dict(base)
    for key, value in overlay.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return merged


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


@dataclass(frozen=True)
class EnvConfig:
    """Validated env.yaml contents plus the facts derived from them."""

    data: dict
    sha256: str
    path: Path

    @property
    def profile(self) -> str | None:
        return self.data.get("active_profile")

    def image(self, target: str) -> dict:
        """The toolchain image that builds `target` (cpu builds in the CUDA image)."""
        return self.data["images"]["rocm" if target == "rocm" else "cuda"]

    @property
    def source_date_epoch(self) -> int:
        return self.data["build"]["source_date_epoch"]

    @property
    def namespace(self) -> str:
        return self.data["ops"]["namespace"]

    @property
    def torch_header_version(self) -> str:
        return self.data["torch"]["header_version"]

    @property
    def target_abi(self) -> str:
        return self.data["torch"]["target_abi"]

    @property
    def target_abi_version(self) -> tuple[int, int]:
        major, minor = _version_tuple(self.target_abi)
        return major, minor

    @property
    def torch_target_version_macro(self) -> str:
        """The TORCH_TARGET_VERSION value: major in bits 56-63, minor in bits 48-55."""
        major, minor = _version_tuple(self.target_abi)
        return f"0x{(major << 56) | (minor << 48):016x}"

    @property
    def cuda_arch_list(self) -> list[str]:
        return self.data["cuda"]["arch_list"]

    @property
    def rocm_arch_list(self) -> list[str]:
        return self.data["rocm"]["arch_list"]

    @property
    def cache_remote(self) -> str | None:
        """The shared compiler-cache backend every container build also reads and writes."""
        return self.data["build"]["compiler_cache"]["remote"]

    @property
    def nvcc_threads(self) -> int:
        return self.data["build"]["nvcc_threads"]

    def max_jobs(self, target: str, available_gib: float | None = None) -> int:
        """Compile jobs for `target`: the pinned number, or as many as free memory and cores allow."""
        jobs = self.data["build"]["max_jobs"]
        if jobs != "auto":
            return jobs
        return max(1, min(os.cpu_count() or 1, self.jobs_memory_allows(target, available_gib)))

    def jobs_memory_allows(self, target: str, available_gib: float | None = None) -> int:
        """How many compile jobs of `target` fit in free memory at their measured peak (maybe 0)."""
        per_job = self.data["build"]["job_peak_gib"][target]
        if target == "cuda":
            per_job *= self.nvcc_threads
        if available_gib is None:
            available_gib = available_memory_gib()
        # Keep 1 GiB for everything else on the machine.
        return int(max(available_gib - 1.0, 0) // per_job)


def available_memory_gib() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 4.0


def load(path: str | os.PathLike | None = None, profile: str | None = None) -> EnvConfig:
    """Load env.yaml, apply `profile` (default: $VLLM_OPS_PROFILE; "" for none) and validate."""
    env_path = Path(path) if path else DEFAULT_ENV_FILE
    profile = (os.environ.get("VLLM_OPS_PROFILE") if profile is None else profile) or None
    try:
        raw = env_path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"env.yaml: cannot read {env_path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"env.yaml: not valid YAML: {exc}") from None
    validated = _validate(SCHEMA, data, "")
    profiles = validated.pop("profiles", None)
    if profiles is None:
        profiles = {}
    if not isinstance(profiles, dict):
        _fail("profiles", "a mapping of profile name to overrides", profiles)
    for name, overlay in profiles.items():
        if isinstance(overlay, dict) and "profiles" in overlay:
            raise ConfigError(f"env.yaml: profiles.{name}.profiles: a profile cannot define profiles")
        _validate(SCHEMA, overlay, f"profiles.{name}", partial=True)
    if profile:
        if profile not in profiles:
            raise ConfigError(
                f"env.yaml: profile {profile!r} is not defined under profiles "
                f"(defined: {', '.join(profiles) or 'none'})"
            )
        validated = _validate(SCHEMA, _merge(validated, profiles[profile]), f"profiles.{profile}")
        validated.pop("profiles", None)
        validated["active_profile"] = profile
    if _version_tuple(validated["torch"]["target_abi"]) < (2, 10):
        _fail("torch.target_abi", 'at least "2.10" (the first stable ABI we support)', validated["torch"]["target_abi"])
    header_major_minor = _version_tuple(validated["torch"]["header_version"])[:2]
    if _version_tuple(validated["torch"]["target_abi"]) > header_major_minor:
        _fail(
            "torch.target_abi",
            f"no newer than torch.header_version ({validated['torch']['header_version']})",
            validated["torch"]["target_abi"],
        )
    return EnvConfig(data=validated, sha256=hashlib.sha256(raw).hexdigest(), path=env_path)
