"""invoke repro takes both checkouts before the first build: the full CUDA arch list builds for
tens of minutes, and an edit to the working tree in between once made the two builds differ
(the wheels profile's DIFFERENT in benchmarks/results/build/repro-cuda-wheels-profile.log).
With --against-dist, the published build is the first variant: only a dist/ of this clean commit,
env.yaml and profile, unchanged since, may stand in for it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildenv import config, publish, repro
from buildenv.compile import LIBRARY_NAME
from buildenv.errors import BuildEnvError
from buildenv.files import sha256_file


def test_both_checkouts_are_exported_before_the_first_build(monkeypatch, tmp_path):
    events = []
    monkeypatch.setattr(repro.tempfile, "mkdtemp", lambda prefix: str(tmp_path))
    monkeypatch.setattr(repro, "export_tree", lambda dest: events.append(("export", Path(dest).parts[-3])))

    def fake_compile(client, cfg, target, build_dir, jobs, **kwargs):
        events.append(("compile", kwargs["source_dir"].parts[-3]))
        library = Path(build_dir) / "lib.so"
        library.write_bytes(b"same")
        return library

    monkeypatch.setattr(repro, "compile_in_image", fake_compile)
    monkeypatch.setattr(repro, "find_header_torch", lambda cfg: type("T", (), {"include_dir": tmp_path})())
    monkeypatch.setattr(repro.abi, "verdict", lambda *a: {"platform_tag": "linux_x86_64"})

    def fake_wheel(client, cfg, target, build_dir, jobs, tag, log, checkout):
        path = Path(build_dir) / "w.whl"
        path.write_bytes(b"wheel")
        return path

    monkeypatch.setattr(repro.wheel, "build", fake_wheel)
    result = repro.check(None, config.load(), "cpu", log=lambda line: None, keep=True)
    assert result.identical
    assert events == [("export", "checkout-a"), ("export", "checkout-b"),
                      ("compile", "checkout-a"), ("compile", "checkout-b")]


def _fake_builds(monkeypatch, tmp_path, events, library_bytes=b"same", wheel_bytes=b"wheel"):
    monkeypatch.setattr(repro.tempfile, "mkdtemp", lambda prefix: str(tmp_path / "repro"))
    monkeypatch.setattr(repro, "export_tree", lambda dest: events.append(("export", Path(dest).parts[-3])))

    def fake_compile(client, cfg, target, build_dir, jobs, **kwargs):
        events.append(("compile", kwargs["source_dir"].parts[-3], jobs, kwargs["use_ccache"]))
        library = Path(build_dir) / "lib.so"
        library.write_bytes(library_bytes)
        return library

    def fake_wheel(client, cfg, target, build_dir, jobs, tag, log, checkout):
        path = Path(build_dir) / "w.whl"
        path.write_bytes(wheel_bytes)
        return path

    monkeypatch.setattr(repro, "compile_in_image", fake_compile)
    monkeypatch.setattr(repro, "find_header_torch", lambda cfg: type("T", (), {"include_dir": tmp_path})())
    monkeypatch.setattr(repro.abi, "verdict", lambda *a: {"platform_tag": "linux_x86_64"})
    monkeypatch.setattr(repro.wheel, "build", fake_wheel)


def _published(tmp_path, cfg, commit="c0ffee", dirty=False, library=b"same", wheel_bytes=b"wheel", **overrides):
    """A dist/cpu/ as `invoke build` leaves it: library, wheel and their manifest."""
    dist = tmp_path / "dist" / "cpu"
    dist.mkdir(parents=True)
    (dist / LIBRARY_NAME).write_bytes(library)
    (dist / "w.whl").write_bytes(wheel_bytes)
    manifest = {"target": "cpu", "profile": cfg.profile, "env_yaml_sha256": cfg.sha256, "jobs": 2,
                "git": {"commit": commit, "dirty": dirty},
                "artifacts": {LIBRARY_NAME: sha256_file(dist / LIBRARY_NAME), "w.whl": sha256_file(dist / "w.whl")},
                **overrides}
    (dist / publish.MANIFEST_NAME).write_text(json.dumps(manifest))
    return dist


@pytest.fixture
def at_commit(monkeypatch):
    monkeypatch.setattr(repro.publish, "git_state", lambda: {"commit": "c0ffee", "dirty": False})


@pytest.mark.parametrize("library", [b"same", b"other"])
def test_against_dist_builds_once_varied_and_compares_with_the_published_bytes(
        monkeypatch, tmp_path, at_commit, library):
    cfg = config.load()
    events = []
    _fake_builds(monkeypatch, tmp_path, events, library_bytes=library)
    monkeypatch.setattr(type(cfg), "jobs_memory_allows", lambda self, target, available_gib=None: 8)
    control = repro.published_control(cfg, "cpu", _published(tmp_path, cfg))
    result = repro.check(None, cfg, "cpu", log=lambda line: None, keep=True, control=control)
    # One checkout, one build: the second variant (another user, locale, umask), cache off, and
    # a job count other than the published build's 2.
    assert events == [("export", "checkout-b"), ("compile", "checkout-b", 3, False)]
    assert result.identical == (library == b"same")
    assert result.sha256[0] == control.sha256


def test_varied_jobs_steps_down_when_memory_allows_no_more(monkeypatch):
    cfg = config.load()
    monkeypatch.setattr(type(cfg), "jobs_memory_allows", lambda self, target, available_gib=None: 2)
    assert repro.varied_jobs(cfg, "cuda", 2) == 1
    assert repro.varied_jobs(cfg, "cuda", 1) == 2


@pytest.mark.parametrize(("plant", "message"), [
    (lambda dist: (dist / publish.MANIFEST_NAME).unlink(), r"no .*manifest\.json"),
    (lambda dist: (dist / LIBRARY_NAME).write_bytes(b"edited"), r"no longer matches the manifest"),
    (lambda dist: (dist / "w.whl").unlink(), r"w\.whl is missing"),
])
def test_against_dist_refuses_a_changed_dist(tmp_path, at_commit, plant, message):
    cfg = config.load()
    dist = _published(tmp_path, cfg)
    plant(dist)
    with pytest.raises(BuildEnvError, match=message):
        repro.published_control(cfg, "cpu", dist)


@pytest.mark.parametrize(("published", "message"), [
    ({"commit": "0ld"}, r"built at commit 0ld, the tree is at c0ffee"),
    ({"dirty": True}, r"c0ffee \(dirty\)"),
    ({"profile": "wheels"}, r"built with profile wheels"),
    ({"env_yaml_sha256": "0" * 64}, r"env\.yaml changed since"),
    ({"target": "cuda"}, r"it is a cuda build"),
])
def test_against_dist_refuses_a_build_of_other_inputs(tmp_path, at_commit, published, message):
    cfg = config.load()
    dist = _published(tmp_path, cfg, **published)
    with pytest.raises(BuildEnvError, match=message) as raised:
        repro.published_control(cfg, "cpu", dist)
    assert "run `invoke build --target cpu` first" in str(raised.value)
