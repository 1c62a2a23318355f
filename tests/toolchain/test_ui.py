"""Task output: progress and elapsed time per step, the summary table, --quiet/--verbose, colour
only on a terminal (and the plain output the toolchain image gets, where rich is not installed)."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

import pytest

import tasks
from buildenv import ui
from buildenv.config import REPO_ROOT

NINJA = ["-- Configuring done", "[1/3] Building CXX object a.o", "a.cpp:3:1: warning: unused variable",
         "[2/3] Building CXX object b.o", "[3/3] Linking CXX shared module lib.so"]
SHA = "ab" * 32


def run_step(verbosity, lines=NINJA):
    buf = io.StringIO()
    out = ui.Ui(buf, verbosity, tty=False)
    with out.step("compile cpu"):
        for line in lines:
            out.log(line)
    out.summary("build cpu", [ui.Row("cpu", "dist/cpu/lib.so", SHA, 12.34, "ccache 3/3 hits")])
    return buf.getvalue()


def test_progress_lines_are_recognised():
    assert ui.parse_progress("[12/40] Building CUDA object x.cu.o") == (12, 40, "Building CUDA object x.cu.o")
    assert ui.parse_progress("Step 3/12 : RUN apt-get install") == (3, 12, "RUN apt-get install")
    assert ui.parse_progress("-- Configuring done") is None
    assert ui.parse_progress("x [1/2]") is None


def test_normal_shows_progress_with_elapsed_time_and_hides_tool_noise():
    text = run_step(ui.NORMAL)
    assert "[0:00] [2/3] Building CXX object b.o" in text
    assert "Configuring done" not in text and "unused variable" not in text
    assert "compile cpu: done in" in text and "[3/3], 1 warning line" in text


def test_verbose_shows_every_line_and_quiet_only_the_summary():
    verbose = run_step(ui.VERBOSE)
    assert all(line in verbose for line in NINJA)
    quiet = run_step(ui.QUIET)
    assert "compile cpu" not in quiet and "Building" not in quiet
    assert SHA in quiet and "ccache 3/3 hits" in quiet


def test_summary_has_whole_hashes_and_only_filled_columns_off_a_terminal():
    text = run_step(ui.QUIET)
    header = next(line for line in text.splitlines() if line.startswith("target"))
    assert header.split() == ["target", "artifact", "sha256", "seconds", "cache"]  # no result column
    assert "12.3" in text and SHA in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_a_failing_step_says_so_even_when_quiet():
    buf = io.StringIO()
    out = ui.Ui(buf, ui.QUIET, tty=False)
    with pytest.raises(RuntimeError), out.step("image cuda"):
        out.log("Step 1/4 : FROM base")
        raise RuntimeError("boom")
    assert "image cuda: failed after" in buf.getvalue() and "[1/4]" in buf.getvalue()


def _invoke(*args, env=None):
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_no_escape_codes_off_a_terminal_even_when_colour_is_forced():
    result = _invoke("families", "--check", env={"FORCE_COLOR": "1", "TERM": "xterm-256color"})
    assert result.returncode == 0, result.stderr
    assert "cmake/sources.cmake" in result.stdout and "matches env.yaml" in result.stdout
    assert "\x1b" not in result.stdout + result.stderr


def test_colour_on_a_terminal():
    """The other side of the check above: the same task on a pseudo-terminal is coloured."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: invoke on the terminal
        os.chdir(REPO_ROOT)
        os.environ.update({"TERM": "xterm-256color", "COLUMNS": "160"})
        os.environ.pop("NO_COLOR", None)
        os.execv(sys.executable, [sys.executable, "-m", "invoke", "families", "--check"])
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    output = b"".join(chunks).decode(errors="replace")
    assert "matches env.yaml" in output and "\x1b[" in output


def test_plain_output_without_rich():
    """The toolchain image runs `invoke` without rich (the devcontainer): same content, plain text."""
    script = ("import sys; sys.modules['rich'] = None; from buildenv import ui; "
              "u = ui.configure(); "
              "u.log('[1/2] Building a.o')\n"
              "with u.step('compile cpu'):\n    u.log('[2/2] Linking lib.so')\n"
              f"u.summary('build cpu', [ui.Row('cpu', 'lib.so', '{SHA}', 1.5)])")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                            env={**os.environ, "FORCE_COLOR": "1"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "[0:00] [2/2] Linking lib.so" in result.stdout and "compile cpu: done in" in result.stdout
    assert lines[-3].split() == ["target", "artifact", "sha256", "seconds"] and SHA in lines[-1]
    assert "\x1b" not in result.stdout


def test_every_task_takes_quiet_and_verbose():
    for name in dir(tasks):
        body = getattr(tasks, name)
        if hasattr(body, "get_arguments"):
            names = {n for arg in body.get_arguments() for n in arg.names}
            assert {"quiet", "q", "verbose", "v"} <= names, name
