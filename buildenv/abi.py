"""ABI audit of a built library: what it takes from libtorch must be the stable C shim only.

Violations: mangled C++ symbols from c10/at/torch (the unstable C++ ABI), the Python C API,
or a DT_NEEDED entry on libtorch_python/libpython. Works on CPU, CUDA and HIP binaries (it
reads the dynamic symbol table with binutils' nm and readelf).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BuildEnvError

# Itanium-mangled names in the c10, at, torch or caffe2 namespaces (optionally const/nested).
_UNSTABLE_CXX = re.compile(r"^_ZN(K|VK|V)?(3c10|2at|5torch|6caffe2)")
_PYTHON_C_API = re.compile(r"^_?Py[A-Z_]")
_SHIM = re.compile(r"^(aoti_torch_|torch_)")
_FORBIDDEN_NEEDED = re.compile(r"^(libtorch_python|libpython)")


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


@dataclass
class AbiReport:
    library: Path
    shim_symbols: list[str] = field(default_factory=list)
    unstable_cxx: list[str] = field(default_factory=list)
    python_c_api: list[str] = field(default_factory=list)
    forbidden_needed: list[str] = field(default_factory=list)
    needed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.unstable_cxx or self.python_c_api or self.forbidden_needed)

    def summary(self) -> str:
        lines = [f"{self.library}: {'OK' if self.ok else 'FAILED'} ({len(self.shim_symbols)} C-shim symbols "
                 f"from libtorch; needs {', '.join(self.needed)})"]
        for title, items in (("unstable C++ symbols from libtorch", self.unstable_cxx),
                             ("Python C API symbols", self.python_c_api),
                             ("forbidden DT_NEEDED entries", self.forbidden_needed)):
            if items:
                lines.append(f"  {title}:")
                lines += [f"    {s}" for s in items]
        return "\n".join(lines)


def audit(library: str | Path) -> AbiReport:
    library = Path(library)
    if not library.is_file():
        raise BuildEnvError(f"no library at {library}; build it first (`invoke build --target ...`)")
    report = AbiReport(library=library, needed=needed_libraries(library))
    for symbol in undefined_symbols(library):
        name = symbol.split("@")[0]
        if _UNSTABLE_CXX.match(name):
            report.unstable_cxx.append(symbol)
        elif _PYTHON_C_API.match(name):
            report.python_c_api.append(symbol)
        elif _SHIM.match(name):
            report.shim_symbols.append(symbol)
    report.forbidden_needed = [n for n in report.needed if _FORBIDDEN_NEEDED.match(n)]
    return report
