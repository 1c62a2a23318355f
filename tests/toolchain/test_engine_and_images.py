"""Engine connection errors, base-image handling and image build arguments, without Docker."""

import pytest
from fake_docker import FakeClient

import docker
from buildenv import config, engine, images, wheelhouse

CFG = config.load()


def test_no_engine_says_how_to_start_one():
    def factory():
        raise docker.errors.DockerException(
            "Error while fetching server API version: ('Connection aborted.', "
            "FileNotFoundError(2, 'No such file or directory'))")

    with pytest.raises(engine.EngineUnavailable) as info:
        engine.connect(factory)
    message = str(info.value)
    assert "not running or not installed" in message
    assert "apt-get install -y docker.io" in message and "dockerd" in message


def test_missing_base_image_offers_invoke_base():
    with pytest.raises(images.BaseImageMissing, match=r"invoke base --image rocm"):
        images.require_base(FakeClient(images=[]), CFG, "rocm")


def test_base_is_debootstrapped_from_the_configured_mirror():
    cmd = images.debootstrap_command("trixie", "/tmp/rootfs", CFG.data["debian"]["mirror"])
    assert cmd == ["debootstrap", "--variant=minbase", "trixie", "/tmp/rootfs", "http://deb.debian.org/debian"]


def test_build_args_carry_the_env_yaml_pins():
    args = images.build_args(CFG, "cuda")
    assert args["BASE_IMAGE"] == CFG.data["images"]["cuda"]["base"]["name"]
    for name, version in CFG.data["images"]["cuda"]["apt"].items():
        assert f"{name}={version}" in args["APT_PACKAGES"].split()


def test_ca_bundle_only_for_https_mirrors(tmp_path, monkeypatch):
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(b"-----BEGIN CERTIFICATE-----")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert images.ca_bundle_for("http://deb.debian.org/debian") == b""
    assert images.ca_bundle_for("https://mirror.example/debian") == bundle.read_bytes()


@pytest.mark.parametrize("key", ["cuda", "rocm"])
def test_wheel_lock_matches_env_yaml(key):
    assert wheelhouse.check_lock_matches(CFG, key) == []
    assert all(len(e["sha256"]) == 64 for e in wheelhouse.read_lock(key))


def test_dockerfiles_pin_nothing_themselves():
    # Versions come from env.yaml as build arguments; a literal version in a Dockerfile would be
    # a second place of truth.
    for name in ("Dockerfile.cuda", "Dockerfile.rocm"):
        text = (config.REPO_ROOT / name).read_text()
        for pinned in list(CFG.data["images"]["cuda"]["apt"].values()) + [CFG.torch_header_version]:
            assert pinned not in text, f"{name} pins {pinned}"


def _client_with_image(key, labels=None):
    image = CFG.data["images"][key]
    client = FakeClient(images=[image["base"]["name"], image["tag"]])
    if labels is not None:
        client.labels[image["tag"]] = labels
    return client


def test_image_with_unchanged_inputs_is_not_rebuilt(monkeypatch):
    monkeypatch.setattr(images, "prepare_context", lambda cfg, key: pytest.fail("no context for an unchanged image"))
    client = _client_with_image("cuda")
    inputs = images.inputs_key(CFG, "cuda", images.require_base(client, CFG, "cuda"))
    client.labels[CFG.data["images"]["cuda"]["tag"]] = {images.INPUTS_LABEL: inputs}
    lines = []
    images.build_image(client, CFG, "cuda", log=lines.append)
    assert client.builds == [] and "up to date" in lines[0]


def test_image_is_built_with_its_inputs_label_when_they_changed_or_when_forced(monkeypatch, tmp_path):
    monkeypatch.setattr(images, "prepare_context", lambda cfg, key: tmp_path)
    client = _client_with_image("rocm", labels={images.INPUTS_LABEL: "an older key"})
    images.build_image(client, CFG, "rocm", log=lambda line: None)
    key = images.inputs_key(CFG, "rocm", images.require_base(client, CFG, "rocm"))
    assert client.builds[-1]["labels"] == {images.INPUTS_LABEL: key}
    images.build_image(client, CFG, "rocm", log=lambda line: None, force=True)
    assert len(client.builds) == 2


def test_inputs_key_follows_the_build_arguments(env_data, write_env):
    base_id = images.require_base(_client_with_image("cuda"), CFG, "cuda")
    env_data["images"]["cuda"]["apt"]["g++-12"] = "0.0-test"
    changed = config.load(write_env(env_data))
    assert images.inputs_key(changed, "cuda", base_id) != images.inputs_key(CFG, "cuda", base_id)


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_docker_host_naming_a_non_socket_says_so(tmp_path, monkeypatch, kind):
    target = tmp_path / "not-a-socket"
    target.mkdir() if kind == "directory" else target.write_text("")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{target}")

    def factory():
        raise AssertionError("no client is made for a DOCKER_HOST that cannot work")

    word = "a directory" if kind == "directory" else "a regular file"
    with pytest.raises(engine.EngineUnavailable, match=rf"DOCKER_HOST=unix://{target} names {word}, not the engine"):
        engine.connect(factory)


def test_clean_with_images_removes_nothing_when_the_engine_fails(tmp_path, monkeypatch):
    from buildenv import pipeline

    monkeypatch.setattr(pipeline, "REPO_ROOT", tmp_path)
    (tmp_path / "build").mkdir()

    def engine_gone(client, tag):
        raise docker.errors.DockerException("engine went away")

    monkeypatch.setattr(images, "image_exists", engine_gone)
    with pytest.raises(docker.errors.DockerException):
        pipeline.clean(object(), CFG)
    assert (tmp_path / "build").exists()
