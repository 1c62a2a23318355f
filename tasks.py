"""Task runner: thin wrappers over buildenv/. `invoke --list` shows the tasks."""

from __future__ import annotations

import sys

from invoke import Exit, task

from buildenv import config
from buildenv import native as native_builder
from buildenv.errors import BuildEnvError


def _fail(exc: BuildEnvError) -> Exit:
    return Exit(f"error: {exc}", code=1)


@task(help={
    "target": "cpu, cuda or rocm",
    "native": "build on the host with the host toolchain instead of inside the image",
    "jobs": "parallel compile jobs (default: env.yaml build.max_jobs)",
})
def build(c, target="cpu", native=False, jobs=0):
    """Compile the extension and install it into vllm_ops/."""
    try:
        cfg = config.load()
        result = native_builder.native_build(cfg, target, jobs=jobs or None)
    except BuildEnvError as exc:
        raise _fail(exc) from None
    print(f"\nbuild {target}: {result.library}\n  sha256 {result.sha256}\n  {result.seconds:.1f} s")


@task(help={"pytest_args": "extra arguments for pytest, e.g. '-k silu -x'"})
def test(c, pytest_args=""):
    """Run the test suite on this machine."""
    c.run(f"{sys.executable} -m pytest {pytest_args}", pty=False)
