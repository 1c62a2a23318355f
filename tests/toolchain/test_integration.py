"""Against the real Docker engine (marked `docker`; .ci/run runs them after building the images)."""

import json
import os
import subprocess
import sys

import pytest

from buildenv import config, engine, images, pipeline, publish, wheel
from buildenv.compile import LIBRARY_NAME, ccache_hits, compile_in_image
from buildenv.errors import BuildEnvError
from buildenv.files import export_tree, sha256_file

pytestmark = pytest.mark.docker
CFG = config.load()


def test_no_engine_at_docker_host_is_explained(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(engine.EngineUnavailable, match="no Docker engine answers at unix:///nonexistent"):
        engine.connect()


def test_invoke_without_engine_exits_1_with_the_hint(tmp_path):
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "invoke", "build", "--target", "cpu"], cwd=config.REPO_ROOT,
                            env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "Start a Docker engine first" in result.stderr + result.stdout


def test_absent_base_image_is_reported_with_invoke_base():
    data = dict(CFG.data)
    data["images"] = {**CFG.data["images"], "rocm": {**CFG.data["images"]["rocm"],
                                                     "base": {"name": "vllm-ops/base:absent", "suite": "trixie",
                                                              "ref": None}}}
    cfg = config.EnvConfig(data=data, sha256=CFG.sha256, path=CFG.path)
    with pytest.raises(images.BaseImageMissing, match="invoke base --image rocm"):
        images.build_image(engine.connect(), cfg, "rocm")


def test_failing_compile_exits_with_log_and_leaves_no_artifact(tmp_path, monkeypatch):
    source = tmp_path / "src"
    export_tree(source)
    broken = source / "csrc" / "cpu" / "activation_cpu.cpp"
    broken.write_text(broken.read_text() + "\nthis is not C++;\n")
    monkeypatch.setattr(pipeline, "host_build_dir", lambda target: tmp_path / "build" / target)
    monkeypatch.setattr(publish, "dist_dir", lambda target: tmp_path / "dist" / target)
    with pytest.raises(BuildEnvError) as info:
        pipeline.build_in_image(engine.connect(), CFG, "cpu", jobs=1, log=lambda line: None, source_dir=source)
    message = str(info.value)
    assert "failed (exit 1)" in message and str(tmp_path / "build" / "cpu" / "build.log") in message
    assert "activation_cpu.cpp" in message and "error" in message
    assert not (tmp_path / "dist" / "cpu").exists()


def test_published_artifacts_match_their_manifests():
    for target in ("cpu", "cuda", "rocm"):
        dist = publish.dist_dir(target)
        manifest = json.loads((dist / "manifest.json").read_text())
        assert manifest["artifacts"][LIBRARY_NAME] == sha256_file(dist / LIBRARY_NAME)
        assert manifest["env_yaml_sha256"] == config.load(profile=manifest["profile"]).sha256


def test_clean_rebuild_with_warm_cache_reuses_the_wheel_bytes(tmp_path, monkeypatch):
    source = tmp_path / "src"
    export_tree(source)
    monkeypatch.setattr(pipeline, "host_build_dir", lambda target: tmp_path / "build" / target)
    monkeypatch.setattr(publish, "dist_dir", lambda target: tmp_path / "dist" / target)
    client = engine.connect()
    first = pipeline.build_in_image(client, CFG, "cpu", log=lambda line: None, source_dir=source)
    wheel = next((tmp_path / "dist" / "cpu").glob("*.whl"))
    first_wheel = sha256_file(wheel)
    subprocess.run(["rm", "-rf", str(tmp_path / "build" / "cpu")], check=True)
    lines = []
    second = pipeline.build_in_image(client, CFG, "cpu", log=lines.append, source_dir=source)
    assert any("reused" in line and "wheel cache" in line for line in lines)
    assert not any("Building wheel" in line for line in lines)
    assert second.sha256 == first.sha256
    assert sha256_file(next((tmp_path / "dist" / "cpu").glob("*.whl"))) == first_wheel


def test_wheel_compiles_hit_what_the_plain_compile_cached(tmp_path):
    """pip and scikit-build-core compile the same objects again for the wheel: same commands and
    paths, and the same environment (LC_CTYPE, which Python would set for them otherwise, is in
    ccache's hash). From an empty cache, every object the plain compile stored must be a hit."""
    source = tmp_path / "src"
    export_tree(source)
    client = engine.connect()
    volume = f"vllm-ops-ccache-test-{os.getpid()}"
    build_dir = tmp_path / "build"
    try:
        compile_in_image(client, CFG, "cpu", build_dir, 2, log=lambda line: None, source_dir=source,
                         cache_volume=volume)
        hits, total = ccache_hits(build_dir)
        assert hits == 0 and total > 0  # the cache started empty
        wheel.build(client, CFG, "cpu", build_dir, 2, "manylinux_2_34_x86_64", lambda line: None, source,
                    cache_volume=volume)
        assert ccache_hits(build_dir / wheel.TREE_DIR) == (total, total)
    finally:
        client.volumes.get(volume).remove(force=True)
