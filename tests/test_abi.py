"""The built library takes only the stable C shim from libtorch (and nothing from Python)."""

import subprocess


from buildenv import abi
from vllm_ops import _loader


def test_installed_library_uses_only_the_stable_c_shim():
    report = abi.audit(_loader.LIBRARY_PATH)
    assert report.ok, report.summary()
    assert report.shim_symbols, "expected aoti_torch_*/torch_* imports"
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
