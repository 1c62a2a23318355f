"""Task runner: thin wrappers over buildenv/. `invoke --list` shows the tasks, `invoke --help TASK`
their flags."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from functools import wraps
from pathlib import Path

from invoke import Exit, task

from buildenv import abi, config, container, engine, images, pipeline, publish, repro, suite, wheelhouse
from buildenv import devcontainer as devcontainers
from buildenv import doctor as checkup
from buildenv import families as op_families
from buildenv.compile import LIBRARY_NAME, find_header_torch, host_build_dir
from buildenv.config import REPO_ROOT, TARGETS
from buildenv.errors import BuildEnvError

TARGET_HELP = "cpu, cuda or rocm"
PROFILE_HELP = "env.yaml profile to apply (e.g. ci); default $VLLM_OPS_PROFILE"


def _clean_errors(fn):
    """BuildEnvError -> one clear message and exit code 1, no traceback."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BuildEnvError as exc:
            raise Exit(f"error: {exc}", code=1) from None

    return wrapper


def _target(target: str) -> str:
    if target not in TARGETS:
        raise BuildEnvError(f"--target must be one of {', '.join(TARGETS)}, got {target!r}")
    return target


def _image_keys(target: str) -> list[str]:
    return ["cuda", "rocm"] if target == "all" else [images.image_key(_target(target))]


@task(help={"image": "cuda, rocm or all: whose base image to create", "profile": PROFILE_HELP})
@_clean_errors
def base(c, image="all", profile=None):
    """Create the base images: pull by digest, or debootstrap locally when no registry is reachable."""
    cfg = config.load(profile=profile)
    client = engine.connect()
    for key in ["cuda", "rocm"] if image == "all" else [image]:
        print(f"base: {images.bootstrap_base(client, cfg, key)}")


@task(help={"image": "cuda, rocm or all", "profile": PROFILE_HELP})
@_clean_errors
def lock(c, image="all", profile=None):
    """Resolve the image wheels on the host and rewrite docker/requirements-<image>.lock."""
    cfg = config.load(profile=profile)
    for key in ["cuda", "rocm"] if image == "all" else [image]:
        print(f"lock: wrote {wheelhouse.resolve(cfg, key).relative_to(REPO_ROOT)}")


@task(help={"target": TARGET_HELP + " (cpu and cuda share the CUDA image)", "profile": PROFILE_HELP,
            "no_base": "fail instead of bootstrapping a missing base image",
            "force": "run the image build even when the image's inputs are unchanged"})
@_clean_errors
def image(c, target="cuda", profile=None, no_base=False, force=False):
    """Build the pinned toolchain image for a target."""
    cfg = config.load(profile=profile)
    client = engine.connect()
    key = images.image_key(_target(target))
    if not no_base:
        print(f"base: {images.bootstrap_base(client, cfg, key)}")
    result = images.build_image(client, cfg, key, force=force)
    print(f"\nimage {result.tag}: {result.image_id}\n  {result.size_bytes / 2**30:.2f} GiB, {result.seconds:.1f} s")


@task(help={
    "target": TARGET_HELP,
    "native": "build on the host with the host toolchain instead of inside the image",
    "jobs": "parallel compile jobs (default: env.yaml build.max_jobs)",
    "profile": PROFILE_HELP,
})
@_clean_errors
def build(c, target="cpu", native_=False, jobs=0, profile=None):
    """Compile the extension: in the toolchain image into dist/<target>/, or --native into vllm_ops/."""
    cfg = config.load(profile=profile)
    _target(target)
    if native_:
        result = pipeline.build_native(cfg, target, jobs=jobs or None)
    else:
        client = engine.connect()
        images.ensure_image(client, cfg, images.image_key(target))
        result = pipeline.build_in_image(client, cfg, target, jobs=jobs or None)
        for whl in sorted(result.library.parent.glob("*.whl")):
            print(f"\nwheel: {whl}")
    print(f"\nbuild {target}: {result.library}\n  sha256 {result.sha256}\n  {result.seconds:.1f} s")


@task(help={
    "target": "run the kernel suite against dist/<target> inside its image (cpu or cuda)",
    "native": "run the whole suite on the host against the package in vllm_ops/",
    "gpus": "pass the host GPUs into the container and require them",
    "torch": "instead: run the kernel suite against dist/<target> unchanged under this torch, in a fresh venv",
    "pytest_args": "extra pytest arguments, e.g. '-k silu -x'",
    "profile": PROFILE_HELP,
})
@_clean_errors
def test(c, target="cpu", native_=False, gpus=False, torch=None, pytest_args="", profile=None):
    """Run the tests: build-environment unit tests on the host, kernel tests in the image."""
    start = time.monotonic()
    if native_:
        c.run(f"{sys.executable} -m pytest {pytest_args}")
        return
    if torch:
        code = suite.run_under_torch(publish.dist_dir(_target(target)), torch, pytest_args)
        print(f"\ntest {target} under torch {torch}: exit {code}, {time.monotonic() - start:.1f} s")
        if code != 0:
            raise Exit(code=code)
        return
    c.run(f"{sys.executable} -m pytest tests/toolchain -m 'not docker' -q")
    cfg = config.load(profile=profile)
    client = engine.connect()
    code = suite.run_in_image(client, cfg, _target(target), pytest_args=pytest_args, gpus=gpus)
    print(f"\ntest {target}: exit {code}, {time.monotonic() - start:.1f} s")
    if code != 0:
        raise Exit(code=code)


@task(help={"target": TARGET_HELP, "profile": PROFILE_HELP})
@_clean_errors
def shell(c, target="cuda", profile=None):
    """An interactive shell in the toolchain image, source at /src (read-only)."""
    cfg = config.load(profile=profile)
    client = engine.connect()
    tag = container.require_image(client, cfg, _target(target))
    subprocess.run(container.shell_command(tag, REPO_ROOT, host_build_dir(target)))


@task(help={"target": TARGET_HELP + " or all", "path": "audit this library file instead",
            "max_glibc": "also require glibc <= this version, e.g. 2.28 (a manylinux_2_28 tag)",
            "profile": PROFILE_HELP})
@_clean_errors
def abi_check(c, target="all", path=None, max_glibc=None, profile=None):
    """Audit built libraries: only stable C-shim symbols from libtorch (none newer than the
    target ABI), no Python C API; prints the minimum torch and the provable manylinux tag."""
    cfg = config.load(profile=profile)
    paths = [path] if path else [publish.dist_dir(t) / LIBRARY_NAME
                                 for t in (TARGETS if target == "all" else [_target(target)])]
    include = find_header_torch(cfg).include_dir
    glibc = tuple(int(p) for p in max_glibc.split(".")) if max_glibc else None
    failed = False
    for lib in paths:
        report = abi.audit(lib, include, cfg.target_abi_version, max_glibc=glibc)
        print(report.summary())
        failed |= not report.ok
        for whl in sorted(Path(lib).parent.glob("*.whl")):
            agrees, text = abi.auditwheel_show(whl)
            print(f"  auditwheel show {whl.name}: {'agrees with the tag' if agrees else 'DISAGREES'}\n    {text}")
            failed |= not agrees
    if failed:
        raise Exit(code=1)


@task(name="repro", help={"target": TARGET_HELP, "keep": "keep the two build trees for inspection",
                         "profile": PROFILE_HELP})
@_clean_errors
def repro_check(c, target="cpu", keep=False, profile=None):
    """Build a target twice from clean, varying path, user, jobs, locale, timezone and umask; compare bytes."""
    cfg = config.load(profile=profile)
    result = repro.check(engine.connect(), cfg, _target(target), keep=keep)
    print(f"\nrepro {target}: {'IDENTICAL' if result.identical else 'DIFFERENT'}\n"
          f"  library sha256 a {result.sha256[0]}\n  library sha256 b {result.sha256[1]}")
    if result.wheel_sha256:
        print(f"  wheel   sha256 a {result.wheel_sha256[0]}\n  wheel   sha256 b {result.wheel_sha256[1]}")
    if not result.identical:
        print(result.difference)
        raise Exit(code=1)


@task(help={"manifest": "path to dist/<target>/manifest.json"})
@_clean_errors
def verify(c, manifest):
    """Rebuild the commit a manifest names (clean, no compiler cache) and confirm the artifact's sha256."""
    result = repro.verify_manifest(engine.connect(), Path(manifest))
    for note in result.notes:
        print(f"note: {note}")
    print(f"\nverify {result.target}: {'OK' if result.ok else 'MISMATCH'}\n  manifest {result.expected}\n"
          f"  rebuilt  {result.rebuilt}")
    if not result.ok:
        raise Exit(code=1)


@task(help={"check": "only compare: exit 1 if the committed files differ from what env.yaml renders"})
@_clean_errors
def devcontainer(c, check=False):
    """Write .devcontainer/*/devcontainer.json and CMakePresets.json from env.yaml (no profile applied)."""
    cfg = config.load(profile="")
    if check:
        stale = devcontainers.drifted(cfg)
        if stale:
            raise Exit("out of date with env.yaml (run `invoke devcontainer`): "
                       + ", ".join(str(p.relative_to(REPO_ROOT)) for p in stale), code=1)
        print("devcontainer files match env.yaml")
        return
    for path in devcontainers.write(cfg) or ["(no changes)"]:
        print(f"wrote {path}")


@task(help={"check": "only compare: exit 1 if cmake/sources.cmake differs from what env.yaml declares"})
@_clean_errors
def families(c, check=False):
    """Write cmake/sources.cmake from env.yaml's `families` (each family's sources and backends)."""
    cfg = config.load(profile="")
    if check:
        if op_families.drifted(cfg):
            raise Exit("cmake/sources.cmake is out of date with env.yaml families (run `invoke families`)", code=1)
        print("cmake/sources.cmake matches env.yaml families")
        return
    print(f"{'wrote' if op_families.write(cfg) else 'unchanged:'} {op_families.SOURCES_CMAKE}")


@task(help={"profile": PROFILE_HELP})
@_clean_errors
def doctor(c, profile=None):
    """Check this machine: engine, disk, memory and job count, images, GPU, compiler cache, Dev Containers CLI.
    One line per check, with the command that fixes a failing one; exits 1 if any fails."""
    checks = checkup.run_checks(config.load(profile=profile))
    print(checkup.render(checks))
    if not all(check.ok for check in checks):
        raise Exit(code=1)


@task
def lint(c):
    """ruff over the Python code, hadolint over the Dockerfiles."""
    c.run(f"{sys.executable} -m ruff check .")
    hadolint = shutil.which("hadolint") or str(REPO_ROOT / ".venv" / "bin" / "hadolint")
    c.run(f"{hadolint} Dockerfile.cuda Dockerfile.rocm")


@task(help={"images": "also remove the toolchain images and the compiler-cache volume"})
@_clean_errors
def clean(c, images_=False):
    """Remove build/, dist/ and generated image contexts."""
    pipeline.clean(engine.connect(), config.load()) if images_ else pipeline.clean()
    print("clean: done")
