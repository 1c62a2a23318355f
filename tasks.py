"""Task runner: thin wrappers over buildenv/. `invoke --list` shows the tasks, `invoke --help TASK`
their flags; every task takes --quiet (only the summary table and errors) and --verbose (all tool
output too)."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import sys
import time
from functools import wraps
from pathlib import Path

from invoke import Exit, task

from buildenv import (
    abi,
    config,
    container,
    engine,
    images,
    performance,
    pipeline,
    publish,
    repro,
    suite,
    ui,
    wheelhouse,
)
from buildenv import bench as benchmarks
from buildenv import devcontainer as devcontainers
from buildenv import doctor as checkup
from buildenv import families as op_families
from buildenv.compile import LIBRARY_NAME, find_header_torch, host_build_dir
from buildenv.config import REPO_ROOT, TARGETS
from buildenv.errors import BuildEnvError
from buildenv.files import sha256_file

TARGET_HELP = "cpu, cuda or rocm"
PROFILE_HELP = "env.yaml profile to apply (e.g. ci); default $VLLM_OPS_PROFILE"
OUTPUT_HELP = {"quiet": "print only the summary table and errors", "verbose": "also print every line of tool output"}


def cli_task(*args, help=None, **kwargs):  # noqa: A002 - invoke's own name for it
    """@task plus the options every task has (--quiet, --verbose); BuildEnvError -> one clear
    message and exit code 1, no traceback."""

    def decorate(fn):
        @wraps(fn)
        def wrapper(c, *a, quiet=False, verbose=False, **kw):
            ui.configure(quiet=quiet, verbose=verbose)
            try:
                return fn(c, *a, **kw)
            except BuildEnvError as exc:
                raise Exit(f"error: {exc}", code=1) from None

        signature = inspect.signature(fn)
        extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False) for name in OUTPUT_HELP]
        wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *extra])
        return task(wrapper, help={**(help or {}), **OUTPUT_HELP}, **kwargs)

    return decorate(args[0]) if args and callable(args[0]) else decorate


# Arguments are checked before any task touches the engine, the files or the compiler, so a typo
# is reported as itself (not as a Docker error or a half-done step).


def _target(target: str) -> str:
    if target not in TARGETS:
        raise BuildEnvError(f"--target must be one of {', '.join(TARGETS)}, got {target!r}")
    return target


def _image_keys(image: str) -> list[str]:
    keys = ["cuda", "rocm"]
    if image != "all" and image not in keys:
        raise BuildEnvError(f"--image must be cuda, rocm or all, got {image!r}")
    return keys if image == "all" else [image]


def _jobs(jobs: str) -> int | None:
    """--jobs: empty for env.yaml's build.max_jobs, else a whole number from 1 to config.MAX_JOBS."""
    if jobs in ("", None):
        return None
    text = str(jobs).strip()
    if not text.isdigit() or not 1 <= int(text) <= config.MAX_JOBS:
        raise BuildEnvError(f"--jobs must be a whole number from 1 to {config.MAX_JOBS}, got {jobs!r}")
    return int(text)


def _glibc(version: str | None) -> tuple[int, ...] | None:
    if version is None:
        return None
    if not re.fullmatch(r"\d+\.\d+", str(version)):
        raise BuildEnvError(f"--max-glibc must be a glibc version such as 2.28, got {version!r}")
    return tuple(int(part) for part in str(version).split("."))


def _exit_row(target: str, what: str, code: int, start: float) -> ui.Row:
    return ui.Row(target, what, seconds=time.monotonic() - start, result="ok" if code == 0 else f"FAILED (exit {code})")


@cli_task(help={"image": "cuda, rocm or all: whose base image to create", "profile": PROFILE_HELP})
def base(c, image="all", profile=None):
    """Create the base images: pull by digest, or debootstrap locally when no registry is reachable."""
    keys = _image_keys(image)
    cfg = config.load(profile=profile)
    client = engine.connect()
    rows = []
    for key in keys:
        start = time.monotonic()
        with ui.step(f"base {key}"):
            outcome = images.bootstrap_base(client, cfg, key, ui.log)
        rows.append(ui.Row(key, cfg.data["images"][key]["base"]["name"], seconds=time.monotonic() - start,
                           result=outcome.split(": ", 1)[-1]))
    ui.summary("base images", rows)


@cli_task(help={"image": "cuda, rocm or all", "profile": PROFILE_HELP})
def lock(c, image="all", profile=None):
    """Resolve the image wheels on the host and rewrite docker/requirements-<image>.lock."""
    keys = _image_keys(image)
    cfg = config.load(profile=profile)
    rows = []
    for key in keys:
        start = time.monotonic()
        with ui.step(f"lock {key}"):
            path = wheelhouse.resolve(cfg, key)
        rows.append(ui.Row(key, ui.display_path(path), sha256_file(path), time.monotonic() - start, result="written"))
    ui.summary("wheel locks", rows)


@cli_task(help={"target": TARGET_HELP + " (cpu and cuda share the CUDA image)", "profile": PROFILE_HELP,
                "no_base": "fail instead of bootstrapping a missing base image",
                "force": "run the image build even when the image's inputs are unchanged"})
def image(c, target="cuda", profile=None, no_base=False, force=False):
    """Build the pinned toolchain image for a target."""
    key = images.image_key(_target(target))
    cfg = config.load(profile=profile)
    client = engine.connect()
    if not no_base:
        with ui.step(f"base {key}"):
            ui.message(f"base: {images.bootstrap_base(client, cfg, key, ui.log)}")
    with ui.step(f"image {key}"):
        result = images.build_image(client, cfg, key, ui.log, force=force)
    ui.summary("toolchain image", [ui.Row(key, result.tag, result.image_id.removeprefix("sha256:"), result.seconds,
                                          result.cache, f"{result.size_bytes / 2**30:.2f} GiB")])


@cli_task(help={
    "target": TARGET_HELP,
    "native": "build on the host with the host toolchain instead of inside the image",
    "jobs": f"parallel compile jobs, 1 to {config.MAX_JOBS} (default: env.yaml build.max_jobs)",
    "profile": PROFILE_HELP,
})
def build(c, target="cpu", native_=False, jobs="", profile=None):
    """Compile the extension: in the toolchain image into dist/<target>/, or --native into vllm_ops/."""
    _target(target)
    job_count = _jobs(jobs)
    cfg = config.load(profile=profile)
    if native_:
        result = pipeline.build_native(cfg, target, jobs=job_count, log=ui.log, step=ui.step)
    else:
        client = engine.connect()
        images.ensure_image(client, cfg, images.image_key(target), ui.log, ui.step)
        result = pipeline.build_in_image(client, cfg, target, jobs=job_count, log=ui.log, step=ui.step)
    ui.summary(f"build {target}", [ui.Row(target, ui.display_path(a.path), a.sha256, a.seconds, a.cache)
                                   for a in result.artifacts])


@cli_task(help={
    "target": "run the kernel suite against dist/<target> inside its image (cpu or cuda)",
    "native": "run the whole suite on the host against the package in vllm_ops/",
    "gpus": "pass the host GPUs into the container and require them",
    "torch": "instead: run the kernel suite against dist/<target> unchanged under this torch, in a fresh venv",
    "pytest_args": "extra pytest arguments, e.g. '-k silu -x'",
    "profile": PROFILE_HELP,
})
def test(c, target="cpu", native_=False, gpus=False, torch=None, pytest_args="", profile=None):
    """Run the tests: build-environment unit tests on the host, kernel tests in the image."""
    hide = ui.current().verbosity == ui.QUIET
    start = time.monotonic()
    if native_:
        c.run(f"{sys.executable} -m pytest {pytest_args}", hide=hide)
        ui.summary("test", [_exit_row("native", "pytest (whole suite)", 0, start)])
        return
    if torch:
        code = suite.run_under_torch(publish.dist_dir(_target(target)), torch, pytest_args, log=ui.message)
        ui.summary("test", [_exit_row(target, f"kernel suite under torch {torch}", code, start)])
        if code != 0:
            raise Exit(code=code)
        return
    c.run(f"{sys.executable} -m pytest tests/toolchain -m 'not docker' -q", hide=hide)
    rows = [_exit_row("host", "tests/toolchain (not docker)", 0, start)]
    cfg = config.load(profile=profile)
    client = engine.connect()
    start = time.monotonic()
    code = suite.run_in_image(client, cfg, _target(target), pytest_args=pytest_args, gpus=gpus, log=ui.out)
    ui.summary("test", rows + [_exit_row(target, "kernel suite in its image" + (" (GPUs)" if gpus else ""), code,
                                         start)])
    if code != 0:
        raise Exit(code=code)


@cli_task(help={"target": TARGET_HELP, "profile": PROFILE_HELP})
def shell(c, target="cuda", profile=None):
    """An interactive shell in the toolchain image, source at /src (read-only)."""
    _target(target)
    cfg = config.load(profile=profile)
    client = engine.connect()
    tag = container.require_image(client, cfg, target)
    start = time.monotonic()
    code = subprocess.run(container.shell_command(tag, REPO_ROOT, host_build_dir(target))).returncode
    ui.summary("shell", [_exit_row(target, tag, code, start)])


@cli_task(help={"target": TARGET_HELP + " or all", "path": "audit this library file instead",
                "max_glibc": "also require glibc <= this version, e.g. 2.28 (a manylinux_2_28 tag)",
                "profile": PROFILE_HELP})
def abi_check(c, target="all", path=None, max_glibc=None, profile=None):
    """Audit built libraries: only stable C-shim symbols from libtorch (none newer than the
    target ABI), no Python C API; prints the minimum torch and the provable manylinux tag."""
    targets = [None] if path else TARGETS if target == "all" else [_target(target)]
    glibc = _glibc(max_glibc)
    if path and not Path(path).is_file():
        raise BuildEnvError(f"--path: no such file {path}")
    cfg = config.load(profile=profile)
    include = find_header_torch(cfg).include_dir
    rows = []
    for name in targets:
        lib = Path(path) if path else publish.dist_dir(name) / LIBRARY_NAME
        report = abi.audit(lib, include, cfg.target_abi_version, max_glibc=glibc)
        (ui.message if report.ok else ui.problem)(report.summary())
        rows.append(ui.Row(name or "-", ui.display_path(lib), sha256_file(lib), result=(
            f"OK: torch >= {report.min_torch_str or '?'}, {report.manylinux_tag}" if report.ok else "FAILED")))
        for whl in sorted(lib.parent.glob("*.whl")):
            agrees, text = abi.auditwheel_show(whl)
            (ui.message if agrees else ui.problem)(f"  auditwheel show {whl.name}:\n    {text}")
            rows.append(ui.Row(name or "-", ui.display_path(whl), sha256_file(whl),
                               result="OK: auditwheel agrees with the tag" if agrees else "FAILED: auditwheel differs"))
    ui.summary("abi-check", rows)
    if not all(row.result.startswith("OK") for row in rows):
        raise Exit(code=1)


@cli_task(name="repro", help={"target": TARGET_HELP, "keep": "keep the build trees for inspection",
                             "profile": PROFILE_HELP,
                             "against_dist": "compare one varied clean build against dist/<target>/ (the last "
                                             "`invoke build`, of this clean commit) instead of building twice"})
def repro_check(c, target="cpu", keep=False, profile=None, against_dist=False):
    """Build a target twice from clean, varying path, user, jobs, locale, timezone and umask; compare bytes."""
    _target(target)
    cfg = config.load(profile=profile)
    control = repro.published_control(cfg, target) if against_dist else None
    with ui.step(f"repro {target}: {'one clean build against dist/' + target if control else 'two clean builds'}"):
        result = repro.check(engine.connect(), cfg, target, log=ui.message, keep=keep, control=control)
    verdict = "IDENTICAL" if result.identical else "DIFFERENT"
    names = ("a (dist)", "b") if control else ("a", "b")
    caches = ("on", "off") if control else ("off", "off")
    rows = []
    for i, name in enumerate(names):
        rows.append(ui.Row(f"{target} {name}", LIBRARY_NAME, result.sha256[i], result.seconds[i] if i or not control
                           else None, caches[i], verdict if result.sha256[0] == result.sha256[1] else "DIFFERENT"))
    for i, name in enumerate(names):
        rows.append(ui.Row(f"{target} {name}", "wheel", result.wheel_sha256[i], cache=caches[i], result=(
            verdict if result.wheel_sha256[0] == result.wheel_sha256[1] else "DIFFERENT")))
    ui.summary(f"repro {target}: {verdict}", rows)
    if not result.identical:
        ui.problem(result.difference)
        raise Exit(code=1)


@cli_task(help={"manifest": "path to dist/<target>/manifest.json"})
def verify(c, manifest):
    """Rebuild the commit a manifest names (clean, no compiler cache) and confirm the artifact's sha256."""
    if not Path(manifest).is_file():
        raise BuildEnvError(f"--manifest: no such file {manifest} (dist/<target>/manifest.json after a build)")
    start = time.monotonic()
    with ui.step("verify: rebuild"):
        result = repro.verify_manifest(engine.connect(), Path(manifest), log=ui.message)
    for note in result.notes:
        ui.problem(f"note: {note}")
    ui.summary(f"verify {result.target}: {'OK' if result.ok else 'MISMATCH'}", [
        ui.Row(result.target, "manifest", result.expected),
        ui.Row(result.target, "rebuilt", result.rebuilt, time.monotonic() - start, "off",
               "OK" if result.ok else "MISMATCH")])
    if not result.ok:
        raise Exit(code=1)


def _file_rows(paths, changed, check: bool, source: str = "env.yaml") -> list[ui.Row]:
    return [ui.Row(artifact=ui.display_path(p), sha256=sha256_file(p) if p.exists() else None,
                   result=("DRIFTED" if check else "written") if p in changed else
                   (f"matches {source}" if check else "unchanged")) for p in paths]


@cli_task(help={"check": "only compare: exit 1 if the committed files differ from what env.yaml renders"})
def devcontainer(c, check=False):
    """Write .devcontainer/*/devcontainer.json and CMakePresets.json from env.yaml (no profile applied)."""
    cfg = config.load(profile="")
    paths = list(devcontainers.rendered_files(cfg))
    changed = devcontainers.drifted(cfg) if check else devcontainers.write(cfg)
    ui.summary("devcontainer files", _file_rows(paths, changed, check))
    if check and changed:
        raise Exit("out of date with env.yaml (run `invoke devcontainer`): "
                   + ", ".join(str(p.relative_to(REPO_ROOT)) for p in changed), code=1)


@cli_task(help={"check": "only compare: exit 1 if cmake/sources.cmake differs from what env.yaml declares"})
def families(c, check=False):
    """Write cmake/sources.cmake from env.yaml's `families` (each family's sources and backends)."""
    cfg = config.load(profile="")
    path = op_families.SOURCES_CMAKE
    changed = op_families.drifted(cfg) if check else op_families.write(cfg)
    ui.summary("families", _file_rows([path], [path] if changed else [], check))
    if check and changed:
        raise Exit("cmake/sources.cmake is out of date with env.yaml families (run `invoke families`)", code=1)


@cli_task(help={
    "family": f"all, or a comma-separated list of {', '.join(benchmarks.FAMILIES)}",
    "baseline": f"comma-separated: {', '.join(benchmarks.BASELINES)} (default vllm-0.22)",
    "vllm_0_22_lib": "vLLM 0.22.0's _C_stable_libtorch.abi3.so (default: from an installed vllm 0.22.0)",
    "vllm_0_33_lib": "vLLM 0.33.0's library, for the vllm-0.33 baseline",
    "python": "the interpreter whose torch has CUDA (default: this one)",
})
def bench(c, family="all", baseline="vllm-0.22", vllm_0_22_lib=None, vllm_0_33_lib=None, python=sys.executable):
    """Run every family's benchmark on this machine's GPU against the baselines; results (JSON, logs,
    plots) under benchmarks/results/<gpu>/. Needs the CUDA library in vllm_ops/ (invoke build --native)."""
    families = benchmarks.parse_choice(family, benchmarks.FAMILIES, "family")
    baselines = benchmarks.parse_choice(baseline, benchmarks.BASELINES, "baseline")
    gpu = benchmarks.probe_gpu(python)
    paths = {"vllm-0.22": vllm_0_22_lib, "vllm-0.33": vllm_0_33_lib}
    libraries = {b: benchmarks.find_vllm_library(python, b, paths[b]) for b in baselines if b in paths}
    out = benchmarks.results_dir(gpu)
    runs, unmeasured = benchmarks.plan(families, baselines, libraries, out)
    ui.message(f"bench: {gpu}, {len(runs)} runs, results in {ui.display_path(out)}")
    for line in unmeasured:
        ui.message(f"bench: not measured: {line}")
    results = benchmarks.execute(runs, python, out, ui.log)
    ui.summary("bench", [ui.Row(target=r.run.family, artifact=ui.display_path(r.json_path), seconds=r.seconds,
                                result=r.outcome()) for r in results])
    if any(r.code != 0 for r in results):
        raise Exit(code=1)


@cli_task(help={"check": "only compare: exit 1 if docs/performance.md differs from what the results render"})
def report(c, check=False):
    """Write docs/performance.md from the benchmarks' JSON results (buildenv/performance.py SOURCES)."""
    path = performance.REPORT
    changed = performance.stale() if check else performance.write()
    ui.summary("performance report", _file_rows([path], [path] if changed else [], check, "the results"))
    if check and changed:
        raise Exit("docs/performance.md is out of date with the benchmark results (run `invoke report`)", code=1)


@cli_task(help={"profile": PROFILE_HELP})
def doctor(c, profile=None):
    """Check this machine: engine, disk, memory and job count, images, GPU, compiler cache, Dev Containers CLI.
    One line per check, with the command that fixes a failing one; exits 1 if any fails."""
    checks = checkup.run_checks(config.load(profile=profile))
    ui.report(checkup.render(checks))
    if not all(check.ok for check in checks):
        raise Exit(code=1)


@cli_task
def lint(c):
    """ruff over the Python code, hadolint over the Dockerfiles."""
    hide = ui.current().verbosity == ui.QUIET
    rows = []
    hadolint = shutil.which("hadolint") or str(REPO_ROOT / ".venv" / "bin" / "hadolint")
    for name, command in (("ruff", f"{sys.executable} -m ruff check ."),
                          ("hadolint", f"{hadolint} Dockerfile.cuda Dockerfile.rocm")):
        start = time.monotonic()
        c.run(command, hide=hide)
        rows.append(_exit_row(name, command.split(" ", 1)[1] if name == "ruff" else "Dockerfile.cuda Dockerfile.rocm",
                              0, start))
    ui.summary("lint", rows)


@cli_task(help={"images": "also remove the toolchain images and the compiler-cache volume"})
def clean(c, images_=False):
    """Remove build/, dist/ and generated image contexts."""
    removed = pipeline.clean(engine.connect(), config.load()) if images_ else pipeline.clean()
    ui.summary("clean", [ui.Row(artifact=what, result="removed") for what in removed] or
               [ui.Row(artifact="(nothing to remove)", result="ok")])
