"""What the tasks show in a terminal: each step's progress (ninja's `[n/N]`, the image build's
`Step n/N`) with its elapsed time, and one summary table at the end of each task.

Three levels: quiet (the summary table and errors only), normal (steps, progress and the
summary; tool output stays in the step's log file) and verbose (every line of tool output too).
On a terminal the progress is a live bar and the summary has colour; anywhere else (a CI log,
a pipe) it is plain lines without escape codes, whatever FORCE_COLOR says.

Drawn with rich where it is installed (the host's .venv); in the toolchain image, where the
devcontainer runs `invoke`, the same output comes out as plain text.

The library never imports this module: its functions take `log` callables, and the tasks pass
`ui.log` (or `ui.out`) and `ui.step`.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

try:
    import rich.box
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table
    from rich.text import Text
except ImportError:  # the toolchain image has no rich: plain output
    Console = None

QUIET, NORMAL, VERBOSE = -1, 0, 1
# Progress lines: ninja's "[12/40] Building CXX object ..." and the classic image builder's
# "Step 3/12 : RUN ...".
PROGRESS = (re.compile(r"^\[(\d+)/(\d+)\]\s*(.*)"), re.compile(r"^Step (\d+)/(\d+) : (.*)"))
WARNING = re.compile(r"\bwarning\b", re.IGNORECASE)
STATUS_STYLES = {"ok": "green", "identical": "green", "matches": "green", "unchanged": "green",
                 "failed": "bold red", "different": "bold red", "mismatch": "bold red", "drifted": "bold red"}


def parse_progress(line: str) -> tuple[int, int, str] | None:
    """(n, N, what) for a progress line, None for any other."""
    for pattern in PROGRESS:
        match = pattern.match(line)
        if match:
            return int(match[1]), int(match[2]), match[3]
    return None


@dataclass
class Row:
    """One line of a summary table; columns that no row fills are left out."""

    target: str | None = None
    artifact: str | None = None
    sha256: str | None = None
    seconds: float | None = None
    cache: str | None = None
    result: str | None = None


def display_path(path: str | Path) -> str:
    """A path relative to the current directory when it lies below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _Step:
    def __init__(self, name: str):
        self.name, self.start = name, time.monotonic()
        self.done = self.total = 0
        self.warnings = 0
        self.task = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start


class Ui:
    def __init__(self, file=None, verbosity: int = NORMAL, tty: bool | None = None):
        self.file = file or sys.stdout
        self.verbosity = verbosity
        self.tty = bool(getattr(self.file, "isatty", lambda: False)()) if tty is None else tty
        self.console = None
        if Console is not None:
            # Off a terminal: never a terminal for rich (no colour, no live display, even under
            # FORCE_COLOR), and wide enough that no table or line is folded.
            self.console = Console(file=self.file, force_terminal=None if self.tty else False,
                                   width=None if self.tty else 400,
                                   highlight=False, soft_wrap=not self.tty)
        self._step: _Step | None = None
        self._progress = None

    # -- plain lines ---------------------------------------------------------------------
    def _print(self, text: str, style: str | None = None) -> None:
        if self.console is None:
            print(text, file=self.file, flush=True)
        elif self._progress is not None:
            self._progress.console.print(Text(text, style=style or ""), soft_wrap=True)
        else:
            self.console.print(Text(text, style=style or ""), soft_wrap=True)

    def message(self, text: str) -> None:
        """A line of ours (not tool output): shown unless quiet."""
        if self.verbosity >= NORMAL:
            self._print(text)

    def out(self, line: str) -> None:
        """Tool output the user came for (a test run): shown unless quiet."""
        if self.verbosity >= NORMAL:
            self._print(line)

    def report(self, text: str) -> None:
        """A task's result in its own shape (doctor's checks): shown at every level."""
        self._print(text)

    def problem(self, text: str) -> None:
        """What went wrong, or needs a look: shown at every level."""
        self._print(text, "red")

    def log(self, line: str) -> None:
        """Tool output inside a step: progress lines move the step along; everything is shown
        when verbose. Outside a step it is shown unless quiet."""
        step = self._step
        if step is None:
            self.out(line)
            return
        progress = parse_progress(line)
        if WARNING.search(line):
            step.warnings += 1
        if self.verbosity >= VERBOSE:
            self._print(line)
        if progress is None:
            return
        step.done, step.total, what = progress
        if self._progress is not None:
            self._progress.update(step.task, completed=step.done, total=step.total, item=what[-80:])
        elif self.verbosity == NORMAL:
            self._print(f"  {_clock(step.elapsed)} {line}")

    # -- steps ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[_Step]:
        """A step: a live bar with elapsed time on a terminal, a closing line with the time and
        the count of progress steps and warnings everywhere (unless quiet)."""
        if self._step is not None:  # nested: the outer step shows it
            yield self._step
            return
        step = self._step = _Step(name)
        live = self.tty and self.console is not None and self.verbosity >= NORMAL
        if live:
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(),
                                      TextColumn("{task.fields[item]}", style="dim", markup=False),
                                      console=self.console, transient=True)
            self._progress.start()
            step.task = self._progress.add_task(name, total=None, item="")
        elif self.verbosity >= NORMAL:
            self._print(f"{name} ...", "bold")
        try:
            yield step
        except BaseException:
            self._end(step, failed=True)
            raise
        self._end(step, failed=False)

    def _end(self, step: _Step, failed: bool) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self._step = None
        if failed or self.verbosity >= NORMAL:
            counted = f" [{step.done}/{step.total}]" if step.total else ""
            warned = f", {step.warnings} warning line{'s' * (step.warnings != 1)}" if step.warnings else ""
            verb = "failed after" if failed else "done in"
            self._print(f"{step.name}: {verb} {_seconds(step.elapsed)}{counted}{warned}",
                        "bold red" if failed else "dim")

    # -- the summary ---------------------------------------------------------------------
    def summary(self, title: str, rows: list[Row]) -> None:
        """The table every task ends with; shown at every level, quiet included."""
        names = [f.name for f in fields(Row) if any(getattr(r, f.name) is not None for r in rows)]
        cells = [[_cell(name, getattr(r, name)) for name in names] for r in rows]
        if self.console is None:
            self._print(_plain_table(title, names, cells))
            return
        if self.tty and "sha256" in names:  # a narrow terminal shortens the hashes (a CI log has them whole)
            col = names.index("sha256")
            rest = sum(max(len(n), *(len(r[i]) for r in cells)) + 3 for i, n in enumerate(names) if i != col)
            room = max(13, self.console.width - rest - 3)
            for row in cells:
                if len(row[col]) > room:
                    row[col] = row[col][:room - 1] + "…"
        table = Table(title=title, title_justify="left", box=rich.box.SIMPLE_HEAD, title_style="bold",
                      show_edge=False, pad_edge=False)
        for name in names:
            table.add_column(name, justify="right" if name == "seconds" else "left", no_wrap=name != "artifact",
                             overflow="fold")
        for row in cells:
            table.add_row(*(Text(c, style=_style(n, c)) for n, c in zip(names, row, strict=True)))
        if self.tty:
            self.console.print(table)
            return
        with self.console.capture() as captured:  # off a terminal: no padding at the line ends
            self.console.print(table)
        self.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
        self.file.flush()


def _clock(seconds: float) -> str:
    return f"[{int(seconds) // 60:d}:{int(seconds) % 60:02d}]"


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s"


def _cell(name: str, value) -> str:
    if value is None:
        return "-"
    if name == "seconds":
        return f"{value:.1f}"
    return str(value)


def _style(name: str, value: str) -> str:
    if name == "result":
        return STATUS_STYLES.get(value.split()[0].lower().rstrip(":,"), "") if value else ""
    return "dim" if name == "sha256" else ""


def _plain_table(title: str, names: list[str], cells: list[list[str]]) -> str:
    widths = [max(len(n), *(len(row[i]) for row in cells)) for i, n in enumerate(names)]
    lines = [title, "  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


_current = Ui()


def configure(quiet: bool = False, verbose: bool = False, file=None, tty: bool | None = None) -> Ui:
    """Start a task's output on the current stdout; --quiet wins over --verbose."""
    global _current
    _current = Ui(file, QUIET if quiet else VERBOSE if verbose else NORMAL, tty)
    return _current


def current() -> Ui:
    return _current


def message(text: str) -> None:
    _current.message(text)


def out(line: str) -> None:
    _current.out(line)


def log(line: str) -> None:
    _current.log(line)


def report(text: str) -> None:
    _current.report(text)


def problem(text: str) -> None:
    _current.problem(text)


def step(name: str):
    return _current.step(name)


def summary(title: str, rows: list[Row]) -> None:
    _current.summary(title, rows)
