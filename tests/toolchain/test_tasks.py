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


# Bad arguments are reported as themselves, before the engine, the files or the compiler are
# touched: `engine.connect` and `config.load` raise if they are reached (issue 18).
@pytest.fixture
def untouchable(monkeypatch):
    from buildenv import config, engine, pipeline

    def reached(*args, **kwargs):
        raise AssertionError("the task went past its argument checks")

    for module, name in ((engine, "connect"), (config, "load"), (pipeline, "build_native"), (pipeline, "clean")):
        monkeypatch.setattr(module, name, reached)


@pytest.mark.parametrize("call, message", [
    (lambda: tasks.build(MockContext(), target="cpu", jobs="-3"), r"--jobs must be a whole number from 1 to 1024, got"),
    (lambda: tasks.build(MockContext(), target="cpu", jobs="abc"), r"--jobs must be a whole number .*got 'abc'"),
    (lambda: tasks.build(MockContext(), target="cpu", native_=True, jobs="0"), r"--jobs must be .*got '0'"),
    (lambda: tasks.build(MockContext(), target="cpu", jobs="100000000"), r"--jobs must be .*got '100000000'"),
    (lambda: tasks.abi_check(MockContext(), max_glibc="abc"), r"--max-glibc must be a glibc version such as 2.28"),
    (lambda: tasks.abi_check(MockContext(), path="/nonexistent/lib.so"), r"--path: no such file"),
    (lambda: tasks.lock(MockContext(), image="bogus"), r"--image must be cuda, rocm or all, got 'bogus'"),
    (lambda: tasks.base(MockContext(), image="bogus"), r"--image must be cuda, rocm or all, got 'bogus'"),
    (lambda: tasks.image(MockContext(), target="bogus"), r"--target must be one of"),
    (lambda: tasks.shell(MockContext(), target="bogus"), r"--target must be one of"),
    (lambda: tasks.repro_check(MockContext(), target="bogus"), r"--target must be one of"),
    (lambda: tasks.verify(MockContext(), manifest="/nonexistent.json"), r"--manifest: no such file /nonexistent.json"),
])
def test_bad_arguments_are_named_before_anything_runs(untouchable, call, message):
    with pytest.raises(Exit, match=message):
        call()


def test_jobs_given_as_text_on_the_command_line_are_parsed():
    assert tasks._jobs("4") == 4 and tasks._jobs(4) == 4 and tasks._jobs("") is None
