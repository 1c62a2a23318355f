"""Driver of scripts/vllm-compat.sh: fetch vLLM 0.22.0's sdist, extract its kernel tests, run
them file by file against vllm-ops through the adapter beside this file, and count.

See scripts/vllm-compat.sh for usage and exit codes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import urljoin

VLLM_VERSION = "0.22.0"
SDIST_NAME = f"vllm-{VLLM_VERSION}.tar.gz"
PYPI = os.environ.get("VLLM_COMPAT_PYPI", "https://pypi.org/pypi")
ADAPTER_DIR = Path(__file__).resolve().parent
REPO_ROOT = ADAPTER_DIR.parent.parent
sys.path.insert(0, str(REPO_ROOT))
from buildenv.files import sha256_file  # noqa: E402

DEFAULT_FILES = (
    "tests/kernels/core/test_activation.py",
    "tests/kernels/quantization/test_int8_quant.py",
    "tests/kernels/quantization/test_fp8_quant.py",
    "tests/kernels/quantization/test_gptq.py",
    "tests/kernels/quantization/test_ggml.py",
    "tests/kernels/quantization/test_awq.py",
    "tests/kernels/quantization/test_cutlass_scaled_mm.py",
)
# What the run extracts from the sdist: the kernel tests and the package marker above them.
EXTRACT_PREFIXES = ("tests/kernels/",)
EXTRACT_FILES = ("tests/__init__.py",)
COLUMNS = ("passed", "failed", "skipped", "errors")


class HarnessError(Exception):
    """The run itself broke (download, verification, extraction, pytest): counts are missing."""


def log(message: str = "") -> None:
    print(message, flush=True)


# --- fetch and verify ------------------------------------------------------------------------


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


def sdist_release() -> tuple[str, str]:
    """(download URL, sha256) of the sdist, from PyPI's JSON API."""
    url = f"{PYPI}/vllm/{VLLM_VERSION}/json"
    try:
        try:
            files, base = _get_json(url)["urls"], url
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
            # Some PyPI mirrors serve only the project-wide document; its releases table lists the same files.
            base = f"{PYPI}/vllm/json"
            files = _get_json(base)["releases"].get(VLLM_VERSION, [])
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        raise HarnessError(f"cannot read vllm {VLLM_VERSION}'s release from PyPI ({url}): {exc}; "
                           "the first run needs network access to PyPI") from None
    for entry in files:
        if entry.get("packagetype") == "sdist" and entry["filename"].endswith(".tar.gz"):
            return urljoin(base, entry["url"]), entry["digests"]["sha256"]
    raise HarnessError(f"PyPI lists no .tar.gz sdist for vllm {VLLM_VERSION}")


def fetch_sdist(cache: Path, seed: Path | None) -> tuple[Path, str]:
    """The verified sdist in the cache, downloaded (or copied from `seed`) when missing.

    The sha256 that PyPI published is recorded beside the tarball once it matched, so later
    runs verify against that record and need no network."""
    tarball, record = cache / SDIST_NAME, cache / f"{SDIST_NAME}.sha256"
    if tarball.exists() and record.exists():
        expected = record.read_text().split()[0]
        if sha256_file(tarball) == expected:
            return tarball, expected
        log(f"cached {tarball} does not match its recorded sha256: fetching again")
    url, expected = sdist_release()
    cache.mkdir(parents=True, exist_ok=True)
    part = cache / f"{SDIST_NAME}.part"
    if seed is not None:
        log(f"copying {seed} (to be verified against PyPI's sha256)")
        shutil.copyfile(seed, part)
    elif tarball.exists():
        part = tarball  # verify what is there before downloading 36 MB again
    else:
        log(f"downloading {url}")
        try:
            with urllib.request.urlopen(url, timeout=120) as response, open(part, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
        except (urllib.error.URLError, OSError) as exc:
            raise HarnessError(f"download of {url} failed: {exc}") from None
    actual = sha256_file(part)
    if actual != expected:
        part.unlink()  # a corrupt cached copy included: the next run downloads afresh
        raise HarnessError(f"sha256 mismatch for {SDIST_NAME}: PyPI says {expected}, the file has {actual}")
    if part != tarball:
        part.replace(tarball)
    record.write_text(f"{expected}  {SDIST_NAME}\n")
    return tarball, expected


def extract_tests(tarball: Path, digest: str, cache: Path) -> Path:
    """tests/kernels/ (and tests/__init__.py) of the sdist under cache/vllm-<version>/."""
    root = cache / f"vllm-{VLLM_VERSION}"
    stamp = root / ".extracted-sha256"
    if stamp.exists() and stamp.read_text().strip() == digest:
        return root
    top = f"vllm-{VLLM_VERSION}/"
    tmp = Path(tempfile.mkdtemp(prefix="extract-", dir=cache))
    tmp.chmod(0o755)
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            members = []
            for member in tar.getmembers():
                name = member.name[len(top):] if member.name.startswith(top) else None
                if name and (name.startswith(EXTRACT_PREFIXES) or name in EXTRACT_FILES) and (
                        member.isfile() or member.isdir()):
                    member.name = name
                    members.append(member)
            if not any(m.name == "tests/kernels/utils.py" for m in members):
                raise HarnessError(f"{tarball} has no {top}tests/kernels/utils.py: not the expected sdist")
            extract_kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp, members=members, **extract_kwargs)
        (tmp / stamp.name).write_text(digest + "\n")
        if root.exists():
            shutil.rmtree(root)
        tmp.replace(root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return root


# --- run -------------------------------------------------------------------------------------


def resolve_target(src: Path, spec: str) -> tuple[str, str]:
    """(display name, pytest argument) for FILE[::TEST]; FILE is a path under tests/kernels or a bare name."""
    path, sep, rest = spec.partition("::")
    candidates = [path, f"tests/kernels/{path}"]
    for candidate in candidates:
        if (src / candidate).is_file():
            return candidate + sep + rest, candidate + sep + rest
    matches = sorted(p.relative_to(src).as_posix() for p in (src / "tests/kernels").rglob(Path(path).name))
    if len(matches) == 1:
        return matches[0] + sep + rest, matches[0] + sep + rest
    raise HarnessError(f"{spec}: no such test file under tests/kernels" +
                       (f" (several match: {', '.join(matches)})" if matches else ""))


def cause_key(message: str) -> str:
    """A failure message reduced to its cause: first line, numbers and shapes blanked."""
    line = message.strip().splitlines()[0] if message.strip() else "(no message)"
    line = re.sub(r"^\S*OpCheckError: opcheck\(op, \.\.\.\): (\w+) failed with ", r"opcheck \1: ", line)
    line = re.sub(r"\w+, \S+\.(h|hpp|cpp|cu|cuh):\d+, ", "", line)  # a C++ check's function and source line
    line = re.sub(r" \(scroll up for stack trace\)$", "", line)
    line = re.sub(r"backend\. This could be because .*", "backend", line)
    line = re.sub(r"0x[0-9a-f]+", "0x#", line)
    line = re.sub(r"(?<![\w.])\d+(\.\d+)?(e[-+]?\d+)?(?!\w)", "#", line)
    return line[:200]


def run_file(python: str, src: Path, target: str, device: str, pytest_args: list[str], log_path: Path,
             env: dict) -> dict:
    report_path = log_path.with_suffix(".json")
    report_path.unlink(missing_ok=True)
    command = [python, "-m", "pytest", "-c", str(ADAPTER_DIR / "pytest.ini"), "--rootdir", str(src),
               "-p", "vllm_compat_plugin", "-p", "no:cacheprovider", "-ra", "--tb=short", target, *pytest_args]
    run_env = {**env, "VLLM_COMPAT_DEVICE": device, "VLLM_COMPAT_REPORT": str(report_path)}
    start = time.monotonic()
    with open(log_path, "w") as out:
        out.write("$ " + shlex.join(command) + "\n")
        out.flush()
        rc = subprocess.run(command, cwd=src, env=run_env, stdout=out, stderr=subprocess.STDOUT).returncode
    result = {"rc": rc, "seconds": time.monotonic() - start, "report": None}
    if report_path.exists():
        result["report"] = json.loads(report_path.read_text())
    # pytest: 0 all passed, 1 some failed, 2 collection errors, 5 nothing collected. Anything
    # else (3 internal error, 4 usage error, a signal) or no report means the counts are not real.
    report = result["report"]
    if rc not in (0, 1, 2, 5) or report is None or (rc == 2 and not report["counts"]["errors"]):
        result["harness_error"] = f"pytest exited {rc}" + ("" if report else " without a report") + f"; see {log_path}"
    return result


def default_device(python: str) -> str:
    probe = subprocess.run([python, "-c", "import torch; print(torch.cuda.is_available())"], capture_output=True,
                           text=True)
    return "cuda" if probe.stdout.strip() == "True" else "cpu"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/vllm-compat.sh",
                                     description=f"Run vLLM {VLLM_VERSION}'s kernel tests against vllm-ops.")
    parser.add_argument("files", nargs="*", help="test files under tests/kernels (FILE or FILE::TEST); "
                        "default: " + " ".join(DEFAULT_FILES))
    parser.add_argument("--device", choices=("cpu", "cuda"), help="cuda: as the tests say; cpu: cuda tensors "
                        "become cpu tensors (default: cuda when torch sees a GPU)")
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments for every file, one string "
                        "(e.g. --pytest-args=\"-k 'not large'\"; keep the = when it starts with -)")
    parser.add_argument("--sdist", type=Path, help=f"a local {SDIST_NAME} to use instead of downloading it "
                        "(still verified against PyPI's sha256)")
    parser.add_argument("--log-dir", type=Path, help="where each file's pytest output goes (default: "
                        "<cache>/logs)")
    parser.add_argument("--causes", type=int, default=6, help="failure causes listed per file (default 6)")
    args = parser.parse_args(argv)

    python = sys.executable
    cache = Path(os.environ.get("VLLM_COMPAT_CACHE") or Path.home() / ".cache/vllm-ops/vllm-compat")
    try:
        tarball, digest = fetch_sdist(cache, args.sdist)
        src = extract_tests(tarball, digest, cache)
        targets = [resolve_target(src, spec) for spec in (args.files or DEFAULT_FILES)]
    except HarnessError as exc:
        log(f"vllm-compat: error: {exc}")
        return 2
    device = args.device or default_device(python)
    pytest_args = shlex.split(args.pytest_args)
    log_dir = args.log_dir or cache / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    path = [str(ADAPTER_DIR), str(src)]
    if (REPO_ROOT / "vllm_ops" / "_build_info.json").exists():
        path.append(str(REPO_ROOT))  # this checkout's build; otherwise an installed vllm_ops
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path + [p for p in [os.environ.get("PYTHONPATH")] if p]),
           "PYTHONDONTWRITEBYTECODE": "1"}

    log(f"vllm-compat: vLLM {VLLM_VERSION} kernel tests against vllm_ops, device {device}")
    log(f"  tests from {tarball} (sha256 {digest[:16]}...), extracted to {src}")
    log(f"  pytest output per file in {log_dir}" + (f"; extra pytest args: {shlex.join(pytest_args)}"
                                                      if pytest_args else ""))
    width = max(len(name) for name, _ in targets + [("total", "")])
    header = f"{'file':<{width}}  " + " ".join(f"{c:>7}" for c in COLUMNS) + "    time"
    log()
    log(header)
    totals, broken = Counter(), []
    for name, target in targets:
        log_path = log_dir / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".log")
        result = run_file(python, src, target, device, pytest_args, log_path, env)
        counts = (result["report"] or {}).get("counts", {})
        row = {c: counts.get(c, 0) for c in COLUMNS}
        row["passed"] += counts.get("xpassed", 0)
        row["skipped"] += counts.get("xfailed", 0)
        totals.update(row)
        line = f"{name:<{width}}  " + " ".join(f"{row[c]:>7}" for c in COLUMNS) + f" {result['seconds']:>6.0f}s"
        if "harness_error" in result:
            broken.append(name)
            line += f"  HARNESS ERROR: {result['harness_error']}"
        log(line)
        problems = (result["report"] or {}).get("problems", [])
        groups = Counter(cause_key(p["message"]) for p in problems)
        examples = {}
        for p in problems:
            examples.setdefault(cause_key(p["message"]), p["nodeid"])
        for key, count in groups.most_common(args.causes):
            log(f"    {count:>4} x {key}")
            log(f"           e.g. {examples[key]}")
        if len(groups) > args.causes:
            log(f"    ... {len(groups) - args.causes} more causes in {log_path}")
    log("-" * len(header))
    log(f"{'total':<{width}}  " + " ".join(f"{totals[c]:>7}" for c in COLUMNS))
    if broken:
        log(f"vllm-compat: the harness broke for {', '.join(broken)}: those counts are incomplete")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
