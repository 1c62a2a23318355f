"""invoke repro takes both checkouts before the first build: the full CUDA arch list builds for
tens of minutes, and an edit to the working tree in between once made the two builds differ
(the wheels profile's DIFFERENT in benchmarks/results/build/repro-cuda-wheels-profile.log)."""

from __future__ import annotations

from pathlib import Path

from buildenv import config, repro


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
