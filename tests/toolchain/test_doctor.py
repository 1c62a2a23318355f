"""invoke doctor: each check against fakes (no engine, images missing, stale, current), and the
task's exit status."""

from collections import namedtuple

import pytest
from fake_docker import FakeClient
from invoke import Exit, MockContext

import tasks
from buildenv import config, doctor, engine, images

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def cfg():
    return config.load()


def no_engine():
    raise engine.EngineUnavailable(f"no Docker engine answers at unix:///x (connection refused). {engine.START_HINT}")


def test_no_engine_names_the_fix_and_skips_what_needs_it(cfg):
    check, client = doctor.check_engine(no_engine)
    assert not check.ok and client is None
    assert "no Docker engine answers" in check.detail and "apt-get install -y docker.io" in check.fix
    assert all(not c.ok for c in doctor.check_images(None, cfg))
    assert not doctor.check_cache(None).ok


def test_engine_reports_its_version():
    check, client = doctor.check_engine(lambda: FakeClient())
    assert check.ok and "Docker 99.0-fake" in check.detail


def test_images_missing_stale_and_current(cfg):
    base = {k: cfg.data["images"][k]["base"]["name"] for k in ("cuda", "rocm")}
    tags = {k: cfg.data["images"][k]["tag"] for k in ("cuda", "rocm")}
    missing = doctor.check_images(FakeClient(), cfg)
    assert [c.fix for c in missing if not c.ok][:2] == ["invoke base --image cuda", "invoke image --target cuda"]

    client = FakeClient(images=[base["cuda"], base["rocm"], tags["cuda"], tags["rocm"]])
    stale = {c.name: c for c in doctor.check_images(client, cfg)}
    assert not stale["image cuda"].ok and "older inputs" in stale["image cuda"].detail

    base_id = client.images.get(base["cuda"]).id
    client.labels[tags["cuda"]] = {images.INPUTS_LABEL: images.inputs_key(cfg, "cuda", base_id)}
    checks = {c.name: c for c in doctor.check_images(client, cfg)}
    assert checks["image cuda"].ok and checks["base rocm"].ok and not checks["image rocm"].ok


def test_disk_and_memory_thresholds(cfg):
    assert not doctor.check_disk(usage=lambda p: Usage(0, 0, 5 * 2**30)).ok
    assert doctor.check_disk(usage=lambda p: Usage(0, 0, 100 * 2**30)).ok
    assert "cuda" in doctor.check_memory(cfg, available_gib=24).detail
    assert not doctor.check_memory(cfg, available_gib=1.0).ok


def test_gpu_and_devcontainer_cli_probes():
    assert doctor.check_gpu(which=lambda name: None, exists=lambda p: p == "/dev/kfd").detail == "AMD (/dev/kfd)"
    assert "none" in doctor.check_gpu(which=lambda name: None, exists=lambda p: False).detail
    cli = doctor.check_devcontainer_cli(which=lambda name: None)
    assert not cli.ok and cli.fix == doctor.DEVCONTAINER_CLI


def test_render_one_line_per_check_with_fixes():
    text = doctor.render([doctor.Check("engine", True, "Docker 1"), doctor.Check("disk", False, "2 GiB", "free space")])
    assert text.splitlines() == ["ok    engine  Docker 1", "FAIL  disk    2 GiB", "              fix: free space",
                                 "1 of 2 checks ok; 1 need attention"]


def test_task_exits_1_when_a_check_fails(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "run_checks", lambda cfg: [doctor.Check("engine", False, "down", "start it")])
    with pytest.raises(Exit) as exc:
        tasks.doctor(MockContext())
    assert exc.value.code == 1 and "FAIL  engine  down" in capsys.readouterr().out
    monkeypatch.setattr(doctor, "run_checks", lambda cfg: [doctor.Check("engine", True, "up")])
    tasks.doctor(MockContext())


def serve_once(reply: bytes):
    """A one-connection TCP server on localhost that answers anything with `reply`; its port."""
    import socket  # noqa: PLC0415
    import threading  # noqa: PLC0415

    server = socket.create_server(("127.0.0.1", 0))

    def answer():
        conn, _ = server.accept()
        with conn:
            conn.recv(64)
            conn.sendall(reply)
        server.close()

    threading.Thread(target=answer, daemon=True).start()
    return server.getsockname()[1]


def closed_port():
    import socket  # noqa: PLC0415

    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def test_cache_reports_the_shared_backend_and_whether_it_answers():
    client = FakeClient()
    local_only = doctor.check_cache(client, None)
    assert local_only.ok and "no shared backend" in local_only.detail
    port = serve_once(b"+PONG\r\n")
    answering = doctor.check_cache(client, f"redis://127.0.0.1:{port}")
    assert answering.ok and f"redis://127.0.0.1:{port} answers" in answering.detail
    silent = doctor.check_cache(client, f"redis://127.0.0.1:{closed_port()}")
    assert not silent.ok and "nothing answers at 127.0.0.1" in silent.detail
    assert "build.compiler_cache.remote" in silent.fix
    wrong = doctor.check_cache(client, f"redis://127.0.0.1:{serve_once(b'HTTP/1.1 400 Bad Request')}")
    assert not wrong.ok and "not as Redis" in wrong.detail
