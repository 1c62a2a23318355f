"""Wheel finishing: variant version, proven platform tag, valid RECORD, deterministic bytes."""

import base64
import hashlib
import re
import zipfile

import tomllib

from buildenv import config, container, wheel

CFG = config.load()


def _raw_wheel(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("vllm_ops/__init__.py", "x = 1\n")
        zf.writestr("vllm_ops/_C_stable_libtorch.abi3.so", b"\x7fELF library")
        zf.writestr("vllm_ops-0.1.0.dist-info/METADATA", "Metadata-Version: 2.2\nName: vllm-ops\nVersion: 0.1.0\n")
        zf.writestr("vllm_ops-0.1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-linux_x86_64\n")
        zf.writestr("vllm_ops-0.1.0.dist-info/RECORD", "stale\n")
    return path


def test_finalize_sets_variant_tag_and_record(tmp_path):
    final = wheel.finalize(_raw_wheel(tmp_path / "raw.whl"), tmp_path, "cu130", "manylinux_2_34_x86_64", 1767225600)
    assert final.name == "vllm_ops-0.1.0+cu130-py3-none-manylinux_2_34_x86_64.whl"
    with zipfile.ZipFile(final) as zf:
        names = zf.namelist()
        assert "vllm_ops-0.1.0+cu130.dist-info/RECORD" == names[-1]
        assert b"Version: 0.1.0+cu130" in zf.read("vllm_ops-0.1.0+cu130.dist-info/METADATA")
        assert b"Tag: py3-none-manylinux_2_34_x86_64" in zf.read("vllm_ops-0.1.0+cu130.dist-info/WHEEL")
        for line in zf.read(names[-1]).decode().splitlines()[:-1]:
            path, digest, size = line.split(",")
            data = zf.read(path)
            assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert int(size) == len(data)


def test_finalize_is_deterministic(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = wheel.finalize(_raw_wheel(tmp_path / "raw1.whl"), tmp_path / "a", "cpu", "manylinux_2_32_x86_64", 0)
    b = wheel.finalize(_raw_wheel(tmp_path / "raw2.whl"), tmp_path / "b", "cpu", "manylinux_2_32_x86_64", 0)
    assert a.read_bytes() == b.read_bytes()


def test_variant_labels_come_from_env_yaml():
    assert wheel.variant(CFG, "cpu") == "cpu"
    assert wheel.variant(CFG, "cuda") == "cu130"
    assert wheel.variant(CFG, "rocm") == "rocm57"


def test_wheel_requires_torch_from_the_target_abi():
    project = tomllib.loads((config.REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == [f"torch>={CFG.target_abi}"]
    assert not [d for d in project["dependencies"] if re.search(r"==|<", d)]


def test_wheel_build_passes_the_same_cmake_definitions():
    command = wheel.build_command(["cmake", "-G", "Ninja", "-DVLLM_OPS_TARGET=cuda", "-DX=a;b"], "/src", "/build",
                                  "/wheel-out")
    assert "--config-settings cmake.define.VLLM_OPS_TARGET=cuda" in command
    assert "'cmake.define.X=a;b'" in command and "--no-build-isolation" in command and "--no-index" in command
    assert "--config-settings build-dir=/build" in command and "-w /wheel-out /src" in command


def test_wheel_cache_reuses_by_key_and_stores_atomically():
    command = wheel.build_command(["cmake", "-DVLLM_OPS_TARGET=cpu"], "/src", "/build", "/wheel-out", "/ccache/w",
                                  "k" * 64)
    reuse, _, build = command.partition("; else ")
    assert reuse.startswith(f"if [ -f /ccache/w/{'k' * 64}.whl ]") and "pip wheel" not in reuse
    assert "pip wheel" in build and f"{'k' * 64}.whl.tmp /ccache/w/{'k' * 64}.whl" in build
    assert f"tail -n +{wheel.WHEEL_CACHE_SIZE + 1}" in build
    assert "if [ -f" not in wheel.build_command(["cmake"], "/src", "/build", "/wheel-out")  # no cache, no reuse


def test_wheel_build_records_ccache_counters_around_pip():
    command = wheel.build_command(["cmake"], "/src", "/build", "/wheel-out")
    before, pip, after = command.split(" && ")
    assert before.startswith("(ccache --print-stats > /build/ccache-before.tsv")
    assert pip.startswith("python3 -m pip wheel")
    assert after.startswith("(ccache --print-stats > /build/ccache-after.tsv")


def test_compile_and_wheel_containers_share_one_environment():
    # ccache hashes the locale variables, and Python sets LC_CTYPE for pip's compiles when the
    # container has none (PEP 538): the environment both kinds of container get sets it. (That
    # the wheel's compiles then hit: tests/toolchain/test_integration.py, against the engine.)
    env = container.build_environment(CFG)
    assert env["LC_CTYPE"] == "C.UTF-8" and env["SOURCE_DATE_EPOCH"] == str(CFG.source_date_epoch)
    assert container.build_environment(CFG, use_ccache=False)["CCACHE_DISABLE"] == "1"
