"""tasks.py stays a thin CLI: checked with invoke's MockContext, no engine, no compiler."""

import re

import pytest
from invoke import Exit, MockContext, Result

import tasks


def test_lint_runs_ruff_and_hadolint():
    c = MockContext(run={re.compile(r".*ruff check \.$"): Result(""),
                         re.compile(r".*hadolint Dockerfile\.cuda Dockerfile\.rocm$"): Result("")})
    tasks.lint(c)
    commands = [call.args[0] for call in c.run.call_args_list]
    assert any(cmd.endswith("-m ruff check .") for cmd in commands)
    assert any(cmd.endswith("hadolint Dockerfile.cuda Dockerfile.rocm") for cmd in commands)


def test_native_test_runs_pytest_with_the_given_arguments():
    c = MockContext(run={re.compile(r".*pytest -k silu$"): Result("1 passed")})
    tasks.test(c, native_=True, pytest_args="-k silu")
    assert c.run.call_args_list[0].args[0].endswith("-m pytest -k silu")


def test_unknown_target_is_a_clear_error_not_a_traceback():
    with pytest.raises(Exit, match="--target must be one of cpu, cuda, rocm, got 'tpu'"):
        tasks.build(MockContext(), target="tpu")


def test_config_errors_exit_with_the_key(monkeypatch):
    from buildenv import config
    from buildenv.errors import ConfigError

    def broken(**kwargs):
        raise ConfigError("env.yaml: unknown key build.parallel")

    monkeypatch.setattr(config, "load", broken)
    with pytest.raises(Exit, match="build.parallel"):
        tasks.image(MockContext(), target="cuda")
