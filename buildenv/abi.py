"""ABI audit of a built library: what it takes from libtorch must be the stable C shim only.

Violations: mangled C++ symbols from c10/at/torch (the unstable C++ ABI), the Python C API,
or a DT_NEEDED entry on libtorch_python/libpython. Works on CPU, CUDA and HIP binaries (it
reads the dynamic symbol table with binutils' nm and readelf). Also checks that a wheel's
platform tag is the one auditwheel derives. Standard library only: the kernel suite imports
this module in the image and in bare venvs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BuildEnvError

# Itanium-mangled names in the c10, at, torch or caffe2 namespaces (optionally const/nested).
_UNSTABLE_CXX = re.compile(r"^_ZN(K|VK|V)?(3c10|2at|5torch|6caffe2)")
_PYTHON_C_API = re.compile(r"^_?Py[A-Z_]")
_SHIM = re.compile(r"^(aoti_torch_|torch_)")
_FORBIDDEN_NEEDED = re.compile(r"^(libtorch_python|libpython)")
_VERSION_GUARD = re.compile(r"#if\s+TORCH_FEATURE_VERSION\s*>=\s*TORCH_VERSION_(\d+)_(\d+)_\d+")
_DECLARED = re.compile(r"\b((?:aoti_torch|torch)_\w+)\s*\(")
# Shim headers: the stable C shim guards each function by the release that added it; the
# AOTInductor shim predates the stable ABI (its functions count as the first stable release).
SHIM_HEADERS = ("torch/csrc/stable/c", "torch/csrc/inductor/aoti_torch/c")
FIRST_STABLE_ABI = (2, 9)
# manylinux_2_N tags that installers and auditwheel's policies know (PEP 600 allows any N, but
# auditwheel only recognizes the glibc versions of real distributions); the oldest is our floor.
MANYLINUX_POLICIES = ((2, 28), (2, 31), (2, 34), (2, 35), (2, 36), (2, 37), (2, 38), (2, 39), (2, 40), (2, 41))


def _run(cmd: list[str]) -> str:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        raise BuildEnvError(f"{cmd[0]} not found; install binutils") from None
    if result.returncode != 0:
        raise BuildEnvError(f"{' '.join(cmd)} failed: {result.stderr.strip()}")
    return result.stdout


def undefined_symbols(library: Path) -> list[str]:
    out = _run(["nm", "-D", "--undefined-only", str(library)])
    return sorted({line.split()[-1] for line in out.splitlines() if line.strip()})


def needed_libraries(library: Path) -> list[str]:
    out = _run(["readelf", "-d", str(library)])
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def shim_symbol_versions(torch_include: Path) -> dict[str, tuple[int, int]]:
    """symbol -> the first torch (major, minor) that has it, read from the shim headers' guards."""
    versions: dict[str, tuple[int, int]] = {}
    for folder in SHIM_HEADERS:
        for header in sorted((torch_include / folder).glob("*.h")):
            stack: list[tuple[int, int] | None] = []
            for line in header.read_text(errors="replace").splitlines():
                stripped = line.strip()
                if stripped.startswith("#if"):
                    guard = _VERSION_GUARD.match(stripped)
                    stack.append((int(guard[1]), int(guard[2])) if guard else None)
                elif stripped.startswith("#endif") and stack:
                    stack.pop()
                for name in _DECLARED.findall(line):
                    guards = [g for g in stack if g] or [FIRST_STABLE_ABI]
                    versions.setdefault(name, max(guards))
    return versions


def _symbol_version(symbol: str) -> tuple[str, tuple[int, ...]] | None:
    """("GLIBC", (2, 34)) for "dlopen@GLIBC_2.34"; None for an unversioned symbol."""
    m = re.match(r"([A-Z]+)_([\d.]+)$", symbol.split("@")[-1]) if "@" in symbol else None
    return (m[1], tuple(int(p) for p in m[2].split("."))) if m else None


def symbol_version_requirements(symbols: list[str]) -> dict[str, tuple[int, ...]]:
    """Newest version required per versioned namespace (GLIBC, GLIBCXX, CXXABI, GCC)."""
    newest: dict[str, tuple[int, ...]] = {}
    for namespace, version in filter(None, map(_symbol_version, symbols)):
        newest[namespace] = max(newest.get(namespace, version), version)
    return newest


def _fmt(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


@dataclass
class AbiReport:
    library: Path
    shim_symbols: list[str] = field(default_factory=list)
    unstable_cxx: list[str] = field(default_factory=list)
    python_c_api: list[str] = field(default_factory=list)
    forbidden_needed: list[str] = field(default_factory=list)
    needed: list[str] = field(default_factory=list)
    min_torch: tuple[int, int] | None = None  # derived from the shim symbols used
    target_abi: tuple[int, int] | None = None
    too_new_for_target: list[str] = field(default_factory=list)
    unknown_shim: list[str] = field(default_factory=list)
    symbol_versions: dict[str, tuple[int, ...]] = field(default_factory=dict)
    manylinux_violations: list[str] = field(default_factory=list)

    @property
    def manylinux_tag(self) -> str:
        """The manylinux platform tag this library's glibc requirements prove."""
        needed = self.symbol_versions.get("GLIBC", (2, 0))[:2]
        policy = next((p for p in MANYLINUX_POLICIES if p >= needed), None)
        return f"manylinux_{policy[0]}_{policy[1]}_x86_64" if policy else "linux_x86_64"

    @property
    def ok(self) -> bool:
        return not (self.unstable_cxx or self.python_c_api or self.forbidden_needed
                    or self.too_new_for_target or self.unknown_shim or self.manylinux_violations)

    @property
    def min_torch_str(self) -> str | None:
        return _fmt(self.min_torch) if self.min_torch else None

    def summary(self) -> str:
        lines = [f"{self.library}: {'OK' if self.ok else 'FAILED'} ({len(self.shim_symbols)} C-shim symbols "
                 f"from libtorch; needs {', '.join(self.needed)})"]
        if self.min_torch:
            lines.append(f"  minimum torch from the shim symbols used: {self.min_torch_str}"
                         + (f" (target ABI {_fmt(self.target_abi)})" if self.target_abi else ""))
        if self.symbol_versions:
            lines.append("  newest symbol versions: " + ", ".join(
                f"{k}_{_fmt(v)}" for k, v in sorted(self.symbol_versions.items()))
                + f" -> platform tag {self.manylinux_tag}")
        for title, items in (("unstable C++ symbols from libtorch", self.unstable_cxx),
                             ("Python C API symbols", self.python_c_api),
                             ("forbidden DT_NEEDED entries", self.forbidden_needed),
                             ("shim symbols newer than the target ABI", self.too_new_for_target),
                             ("shim symbols not declared in the header torch", self.unknown_shim),
                             ("glibc symbol versions beyond the required tag", self.manylinux_violations)):
            if items:
                lines.append(f"  {title}:")
                lines += [f"    {s}" for s in items]
        return "\n".join(lines)


def audit(library: str | Path, torch_include: Path | None = None,
          target_abi: tuple[int, int] | None = None, max_glibc: tuple[int, int] | None = None) -> AbiReport:
    """Audit `library`. With `torch_include` (the header torch's include/), also derive the
    minimum torch from the shim symbols and check it against `target_abi`; with `max_glibc`,
    require that the library runs on that glibc (a manylinux_2_N tag)."""
    library = Path(library)
    if not library.is_file():
        raise BuildEnvError(f"no library at {library}; build it first (`invoke build --target ...`)")
    report = AbiReport(library=library, needed=needed_libraries(library), target_abi=target_abi)
    symbols = undefined_symbols(library)
    for symbol in symbols:
        name = symbol.split("@")[0]
        if _UNSTABLE_CXX.match(name):
            report.unstable_cxx.append(symbol)
        elif _PYTHON_C_API.match(name):
            report.python_c_api.append(symbol)
        elif _SHIM.match(name):
            report.shim_symbols.append(symbol)
    report.forbidden_needed = [n for n in report.needed if _FORBIDDEN_NEEDED.match(n)]
    if torch_include is not None:
        versions = shim_symbol_versions(torch_include)
        report.unknown_shim = [s for s in report.shim_symbols if s not in versions]
        known = [versions[s] for s in report.shim_symbols if s in versions]
        report.min_torch = max(known) if known else None
        if target_abi:
            report.too_new_for_target = [f"{s} (torch {_fmt(versions[s])})" for s in report.shim_symbols
                                         if s in versions and versions[s] > target_abi]
    report.symbol_versions = symbol_version_requirements(symbols)
    if max_glibc:
        report.manylinux_violations = [
            symbol for symbol in symbols
            if (version := _symbol_version(symbol)) and version[0] == "GLIBC" and version[1] > max_glibc
        ]
    return report


def verdict(library: Path, torch_include: Path, target_abi: str) -> dict:
    """The audit's verdict for the manifest: minimum torch, provable platform tag."""
    major, minor = (int(p) for p in target_abi.split("."))
    report = audit(library, torch_include, (major, minor))
    return {"ok": report.ok, "min_torch": report.min_torch_str, "platform_tag": report.manylinux_tag,
            "target_abi": target_abi}


def auditwheel_show(wheel_path: Path) -> tuple[bool, str]:
    """Run `auditwheel show` and check that the platform tag it derives from the wheel's symbol
    versions is the one in the wheel's file name."""
    exe = shutil.which("auditwheel") or str(Path(sys.executable).parent / "auditwheel")
    result = subprocess.run([exe, "show", str(wheel_path)], capture_output=True, text=True)
    text = " ".join((result.stdout + result.stderr).split())
    tag = wheel_path.stem.rsplit("-", 1)[-1]
    return result.returncode == 0 and f'"{tag}"' in text, text
