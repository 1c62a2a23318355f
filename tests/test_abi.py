"""The built library takes only the stable C shim from libtorch (and nothing from Python)."""

import subprocess
from pathlib import Path

import torch

import vllm_ops
from buildenv import abi
from vllm_ops import _loader


def test_installed_library_uses_only_the_stable_c_shim():
    target_abi = tuple(int(p) for p in vllm_ops.build_info["target_abi"].split("."))
    report = abi.audit(_loader.LIBRARY_PATH, Path(torch.__file__).parent / "include", target_abi)
    assert report.ok, report.summary()
    assert report.shim_symbols, "expected aoti_torch_*/torch_* imports"
    assert report.min_torch is not None and report.min_torch <= target_abi
    assert {"libtorch_cpu.so", "libc10.so"} <= set(report.needed)


def test_audit_rejects_a_library_using_unstable_and_python_symbols(tmp_path):
    source = tmp_path / "bad.cpp"
    source.write_text(
        "namespace c10 { void unstable_entry(int); }\n"
        'extern "C" int PyLong_AsLong(void*);\n'
        'extern "C" int aoti_torch_abi_version();\n'
        'extern "C" int use(void* p) { c10::unstable_entry(1); return PyLong_AsLong(p) + aoti_torch_abi_version(); }\n'
    )
    library = tmp_path / "libbad.so"
    subprocess.run(["g++", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    report = abi.audit(library)
    assert not report.ok
    assert report.unstable_cxx == ["_ZN3c1014unstable_entryEi"]
    assert report.python_c_api == ["PyLong_AsLong"]
    assert report.shim_symbols == ["aoti_torch_abi_version"]


def test_audit_rejects_shim_symbols_newer_than_the_target_abi(tmp_path):
    # The newest version-guarded shim function of the running torch's headers, called from a crafted
    # library, must set the minimum torch to its version and fail a target ABI just below it.
    include = Path(torch.__file__).parent / "include"
    versions = abi.shim_symbol_versions(include)
    symbol, version = max(versions.items(), key=lambda item: (item[1], item[0]))
    assert version > abi.FIRST_STABLE_ABI
    source = tmp_path / "new.cpp"
    source.write_text(f'extern "C" int {symbol}();\nextern "C" int use() {{ return {symbol}(); }}\n')
    library = tmp_path / "libnew.so"
    subprocess.run(["g++", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    below = (version[0], version[1] - 1)
    report = abi.audit(library, include, below)
    assert report.min_torch == version
    assert report.too_new_for_target == [f"{symbol} (torch {version[0]}.{version[1]})"]
    assert not report.ok
    assert abi.audit(library, include, version).ok
