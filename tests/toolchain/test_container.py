"""In-image builds and test runs against a fake engine: mounts, user, logs, all-or-nothing dist."""

import json
import os
import zipfile

import pytest
from fake_docker import FakeClient
from invoke import MockContext

from buildenv import config, container, pipeline, suite
from buildenv.compile import BUILD_INFO_NAME, LIBRARY_NAME
from buildenv.config import REPO_ROOT
from buildenv.errors import BuildEnvError
from buildenv.files import sha256_file

CFG = config.load()
TAG = CFG.image("cpu")["tag"]


def _successful_build(call, build_dir):
    if "pip wheel" in call["command"][-1]:
        return b"Successfully built vllm-ops\n", 0, lambda: _raw_wheel(build_dir)

    def effect():
        (build_dir / LIBRARY_NAME).write_bytes(b"\x7fELF fake library")
        (build_dir / BUILD_INFO_NAME).write_text("{}")
        (build_dir / "toolchain.json").write_text(json.dumps({"g++": "12"}))
        (build_dir / "build.ninja").write_text("")

    return b"[1/1] Linking CXX shared module _C_stable_libtorch.abi3.so\n", 0, effect


def _raw_wheel(build_dir):
    out = build_dir / "wheel-out"
    out.mkdir(exist_ok=True)
    with zipfile.ZipFile(out / "vllm_ops-0.1.0-py3-none-linux_x86_64.whl", "w") as zf:
        zf.writestr(f"vllm_ops/{LIBRARY_NAME}", (build_dir / LIBRARY_NAME).read_bytes())
        zf.writestr("vllm_ops-0.1.0.dist-info/METADATA", "Name: vllm-ops\nVersion: 0.1.0\n")
        zf.writestr("vllm_ops-0.1.0.dist-info/WHEEL", "Tag: py3-none-linux_x86_64\n")


def test_build_runs_as_caller_with_read_only_source_and_publishes(fake_repo):
    build_dir = fake_repo / "build" / "cpu"
    client = FakeClient(images=[TAG], script=lambda call: _successful_build(call, build_dir))
    result = pipeline.build_in_image(client, CFG, "cpu", jobs=2, log=lambda line: None)
    run, wheel_run = client.runs[-2:]
    assert "pip wheel" in wheel_run["command"][-1] and wheel_run["user"] == run["user"]
    assert run["user"] == f"{os.getuid()}:{os.getgid()}"
    assert run["volumes"][str(REPO_ROOT)] == {"bind": "/src", "mode": "ro"}
    assert run["volumes"][str(build_dir)] == {"bind": "/build", "mode": "rw"}
    assert run["volumes"][container.CCACHE_VOLUME]["bind"] == "/ccache"
    # The wheel's CMake tree sits where the plain build's does, so its compiles hit the cache.
    assert wheel_run["volumes"][str(build_dir / "wheel-build")] == {"bind": "/build", "mode": "rw"}
    assert wheel_run["volumes"][str(build_dir / "wheel-out")] == {"bind": "/wheel-out", "mode": "rw"}
    assert wheel_run["volumes"][container.CCACHE_VOLUME]["bind"] == "/ccache"
    assert "CCACHE_DISABLE" not in run["environment"]  # ccache rejects any value but a true one
    script = run["command"][-1]
    assert "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache" in script and "--parallel 2" in script
    assert "-DVLLM_OPS_TORCH_INCLUDE_DIR=/opt/torch/include" in script
    dist = fake_repo / "dist" / "cpu"
    manifest = json.loads((dist / "manifest.json").read_text())
    assert manifest["artifacts"][LIBRARY_NAME] == result.sha256
    assert manifest["env_yaml_sha256"] == CFG.sha256
    assert manifest["image"]["tag"] == TAG and manifest["toolchain"] == {"g++": "12"}
    assert manifest["source_date_epoch"] == CFG.source_date_epoch
    assert set(manifest["git"]) == {"commit", "dirty"}
    assert manifest["abi"]["min_torch"] == "2.10"
    wheel_name = "vllm_ops-0.1.0+cpu-py3-none-manylinux_2_32_x86_64.whl"
    assert manifest["artifacts"][wheel_name] == sha256_file(dist / wheel_name)


def test_second_build_skips_configure_when_nothing_changed(fake_repo):
    build_dir = fake_repo / "build" / "cpu"
    client = FakeClient(images=[TAG], script=lambda call: _successful_build(call, build_dir))
    pipeline.build_in_image(client, CFG, "cpu", jobs=2, log=lambda line: None)
    pipeline.build_in_image(client, CFG, "cpu", jobs=2, log=lambda line: None)
    first, second = [r["command"][-1] for r in client.runs if "pip wheel" not in r["command"][-1]]
    assert len([r for r in client.runs if "pip wheel" in r["command"][-1]]) == 1  # wheel reused
    assert "cmake -G Ninja" in first and "cmake -G Ninja" not in second and "cmake --build" in second


def test_failed_compile_reports_log_and_leaves_dist_untouched(fake_repo):
    dist = fake_repo / "dist" / "cpu"
    dist.mkdir(parents=True)
    (dist / LIBRARY_NAME).write_bytes(b"previous good build")
    output = b"FAILED: activation_cpu.cpp.o\nactivation_cpu.cpp:3:2: error: expected ';'\n"
    client = FakeClient(images=[TAG], script=lambda call: (output, 1, None))
    with pytest.raises(BuildEnvError) as info:
        pipeline.build_in_image(client, CFG, "cpu", jobs=1, log=lambda line: None)
    message = str(info.value)
    assert "exit 1" in message and "build.log" in message and "error: expected ';'" in message
    assert (dist / LIBRARY_NAME).read_bytes() == b"previous good build"
    assert not (fake_repo / "dist" / ".cpu.staging").exists()


def test_missing_toolchain_image_says_how_to_build_it(fake_repo):
    with pytest.raises(BuildEnvError, match=r"invoke image --target cuda"):
        pipeline.build_in_image(FakeClient(images=[]), CFG, "cuda", log=lambda line: None)


def test_rocm_artifacts_are_not_run(fake_repo):
    with pytest.raises(BuildEnvError, match="compile-and-link verified"):
        suite.run_in_image(FakeClient(images=[CFG.image("rocm")["tag"]]), CFG, "rocm")


def test_test_run_mounts_the_artifact_read_only(fake_repo):
    dist = fake_repo / "dist" / "cpu"
    dist.mkdir(parents=True)
    (dist / LIBRARY_NAME).write_bytes(b"lib")
    client = FakeClient(images=[TAG], script=lambda call: (b"1 passed\n", 0, None))
    assert suite.run_in_image(client, CFG, "cpu", pytest_args="-k silu", log=lambda line: None) == 0
    run = client.runs[-1]
    assert run["volumes"][str(dist)] == {"bind": "/dist", "mode": "ro"}
    assert "pytest" in run["command"][-1] and "-k silu" in run["command"][-1]
    assert "device_requests" not in run


def test_gpu_test_run_requests_every_gpu_and_requires_them(fake_repo):
    dist = fake_repo / "dist" / "cuda"
    dist.mkdir(parents=True)
    (dist / LIBRARY_NAME).write_bytes(b"lib")
    client = FakeClient(images=[CFG.image("cuda")["tag"]], script=lambda call: (b"1 passed\n", 0, None))
    assert suite.run_in_image(client, CFG, "cuda", gpus=True, log=lambda line: None) == 0
    run = client.runs[-1]
    [request] = run["device_requests"]
    assert request["Count"] == -1 and request["Capabilities"] == [["gpu"]]
    assert run["environment"]["VLLM_OPS_REQUIRE_GPU"] == "1"


def test_build_reports_ccache_hits_and_the_task_ends_with_the_summary(fake_repo, monkeypatch, capsys):
    import tasks
    from buildenv import engine

    build_dir = fake_repo / "build" / "cpu"

    def script(call):
        output, status, effect = _successful_build(call, build_dir)
        if "pip wheel" in call["command"][-1]:
            return output, status, effect
        assert "ccache --print-stats > /build/ccache-before.tsv" in call["command"][-1]

        def with_stats():  # what ccache --print-stats writes, before and after the compile
            effect()
            (build_dir / "ccache-before.tsv").write_text("direct_cache_hit\t10\ncache_miss\t5\n"
                                                         "stats_updated_timestamp\t1\n")
            (build_dir / "ccache-after.tsv").write_text("direct_cache_hit\t12\npreprocessed_cache_hit\t1\n"
                                                        "cache_miss\t6\n")

        return b"[1/2] Building CXX object a.o\n[2/2] Linking CXX shared module x.so\n", status, with_stats

    client = FakeClient(images=[TAG], script=script)
    monkeypatch.setattr(engine, "connect", lambda: client)
    tasks.build(MockContext(), target="cpu", jobs=1)
    out = capsys.readouterr().out
    assert "[2/2] Linking CXX shared module x.so" in out and "compile cpu: done in" in out
    summary = out[out.index("build cpu\n"):].splitlines()
    assert summary[1].split() == ["target", "artifact", "sha256", "seconds", "cache"]
    library, wheel_row = summary[3], summary[4]
    assert sha256_file(fake_repo / "dist" / "cpu" / LIBRARY_NAME) in library and "ccache 3/4 hits" in library
    assert "vllm_ops-0.1.0+cpu" in wheel_row and wheel_row.endswith("built")
    tasks.build(MockContext(), target="cpu", jobs=1, quiet=True)
    again = capsys.readouterr().out
    assert again.startswith("build cpu\n") and again.splitlines()[-1].endswith("inputs unchanged")
