"""Small helpers every step shares: file hashes, copies of the tracked tree, command output
split into lines and kept in a log file, and the lines of a log worth showing on failure."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .config import REPO_ROOT
from .errors import BuildEnvError

Log = Callable[[str], None]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_tree(dest: Path, repo: Path = REPO_ROOT) -> None:
    """Copy the files git tracks (as they are in the working tree) to dest."""
    files = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src, dst = repo / name, dest / name
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def lines_of(chunks: Iterable[bytes], log_path: Path | None = None) -> Iterator[str]:
    """Whole lines (without the newline) from a stream of byte chunks that may split lines
    anywhere; every byte also goes to log_path (appended) when given."""
    out = open(log_path, "ab") if log_path else None
    pending = b""
    try:
        for chunk in chunks:
            if out:
                out.write(chunk)
                out.flush()
            pending += chunk.replace(b"\r\n", b"\n")
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.decode(errors="replace")
        if pending:
            yield pending.decode(errors="replace")
    finally:
        if out:
            out.close()


def run_streaming(cmd: list[str], log_path: Path, log: Log = print, env: dict | None = None,
                  cwd: Path | None = None) -> None:
    """Run `cmd` on this machine, hand each output line to `log` as it comes and keep all of it
    in `log_path`. Raises BuildEnvError with the first error lines on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as f:
        f.write(("$ " + " ".join(cmd) + "\n").encode())
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    assert proc.stdout is not None
    for line in lines_of(iter(lambda: proc.stdout.read1(1 << 16), b""), log_path):
        log(line)
    code = proc.wait()
    if code != 0:
        raise BuildEnvError(
            f"`{' '.join(cmd[:3])} ...` failed with exit code {code}; full log: {log_path}\n"
            + first_error_lines(log_path)
        )


def first_error_lines(log_path: Path, limit: int = 10) -> str:
    lines = log_path.read_text(errors="replace").splitlines()
    hits = [ln for ln in lines if "error" in ln.lower() or "FAILED" in ln]
    return "\n".join(hits[:limit]) or "\n".join(lines[-limit:])
