"""The shared compiler cache against a real Redis server (Debian's redis-server, started here):
two checkouts at different paths, built in two containers that share nothing but the Redis
backend (each has its own empty local cache volume), as two machines of a CI fleet would.
Marked docker; .ci/run installs redis-server. The timings and hit counts go to
.cache/compiler-cache-transcript.txt (CI prints it)."""

import ipaddress
import shutil
import socket
import subprocess
import time
import uuid

import pytest

from buildenv import compile, config, engine
from buildenv.files import export_tree, sha256_file

pytestmark = pytest.mark.docker
CFG = config.load()
TRANSCRIPT = config.REPO_ROOT / ".cache" / "compiler-cache-transcript.txt"


@pytest.fixture
def redis_port(tmp_path):
    exe = shutil.which("redis-server")
    assert exe, "redis-server is not installed (Debian package redis-server; .ci/run installs it)"
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    # Bound to every interface: the containers reach it at the bridge gateway. Nothing persisted.
    server = subprocess.Popen([exe, "--port", str(port), "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def bridge_gateway(client) -> str:
    """The host's address on Docker's default bridge, where containers reach the Redis server. The
    engine does not always report the gateway (Docker 28 leaves it out of a fresh daemon's IPAM
    config); it is then the subnet's first address, as the engine assigns it."""
    for entry in client.networks.get("bridge").attrs.get("IPAM", {}).get("Config") or []:
        if entry.get("Gateway"):
            return entry["Gateway"]
        subnet = ipaddress.ip_network(entry.get("Subnet", "::/128"))
        if subnet.version == 4:
            return str(next(subnet.hosts()))
    pytest.fail("Docker's bridge network reports neither an IPv4 gateway nor an IPv4 subnet")


def test_second_checkout_in_a_second_container_hits_the_shared_cache(tmp_path, redis_port):
    client = engine.connect()
    gateway = bridge_gateway(client)
    data = {**CFG.data, "build": {**CFG.data["build"], "compiler_cache": {"remote": f"redis://{gateway}:{redis_port}"}}}
    cfg = config.EnvConfig(data=data, sha256=CFG.sha256, path=CFG.path)
    runs = []
    volumes = [f"vllm-ops-test-cache-{uuid.uuid4().hex[:12]}" for _ in range(2)]
    try:
        checkouts = ("a/vllm-ops", "elsewhere/deeper/checkout")  # two paths, different depths
        for name, checkout, volume in zip(("first", "second"), checkouts, volumes, strict=True):
            source = tmp_path / checkout
            export_tree(source)
            build_dir = tmp_path / f"build-{name}"
            start = time.monotonic()
            library = compile.compile_in_image(client, cfg, "cpu", build_dir, jobs=2, log=lambda line: None,
                                               source_dir=source, cache_volume=volume)
            runs.append((name, source, time.monotonic() - start, compile.ccache_counters(build_dir),
                         sha256_file(library)))
    finally:
        for volume in volumes:
            try:
                client.volumes.get(volume).remove(force=True)
            except Exception:  # noqa: BLE001 (already gone)
                pass
    lines = [f"redis-server on the host, containers reach it at {gateway}:{redis_port}"]
    for name, source, seconds, counters, digest in runs:
        hits = counters.get("direct_cache_hit", 0) + counters.get("preprocessed_cache_hit", 0)
        compiles = hits + counters.get("cache_miss", 0)
        lines.append(f"{name}: checkout {source}, {seconds:.1f} s, {hits}/{compiles} ccache hits "
                     f"({counters.get('remote_storage_read_hit', 0)} from Redis), library {digest}")
    TRANSCRIPT.parent.mkdir(exist_ok=True)
    TRANSCRIPT.write_text("\n".join(lines) + "\n")
    (_, _, _, first, first_digest), (_, _, _, second, second_digest) = runs
    compiled = first.get("cache_miss", 0)
    assert compiled > 0, f"the first build should compile every file: {first}"
    assert first.get("remote_storage_write", 0) + first.get("remote_storage_read_miss", 0) > 0, first
    hits = second.get("direct_cache_hit", 0) + second.get("preprocessed_cache_hit", 0)
    total = hits + second.get("cache_miss", 0)
    assert total > 0 and hits / total >= 0.9, f"second build: {hits}/{total} hits ({second})"
    assert second.get("remote_storage_read_hit", 0) >= 0.9 * total, f"hits must come from Redis: {second}"
    assert second_digest == first_digest, "a cached build must give the same library bytes"
