"""Build-environment tests run without Docker: a fake engine stands in for docker-py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from buildenv import config

REPO_ENV = config.DEFAULT_ENV_FILE


@pytest.fixture
def env_data():
    return yaml.safe_load(REPO_ENV.read_text())


@pytest.fixture
def write_env(tmp_path):
    def write(data) -> Path:
        path = tmp_path / "env.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


class FakeContainer:
    def __init__(self, output: bytes, status: int, on_run=None):
        self.output, self.status, self.removed = output, status, False
        self.on_run = on_run

    def logs(self, stream=True, follow=True):
        if self.on_run:
            self.on_run()
        yield self.output

    def wait(self):
        return {"StatusCode": self.status}

    def remove(self, force=False):
        self.removed = True


class FakeImage:
    def __init__(self, tag):
        self.id = f"sha256:{'ab' * 32}"
        self.attrs = {"Size": 123, "Config": {"Labels": {}}}
        self.tag = tag


class FakeClient:
    """Records container runs; `script` decides what each run prints, returns and does."""

    def __init__(self, images=(), script=None):
        import docker

        self._images = set(images)
        self.runs = []
        self.script = script or (lambda call: (b"ok\n", 0, None))
        self.errors = docker.errors
        client = self

        class Images:
            def get(self, name):
                if name not in client._images:
                    raise docker.errors.ImageNotFound(name)
                return FakeImage(name)

        class Volumes:
            def get(self, name):
                return object()

        class Containers:
            def run(self, image, command, **kwargs):
                call = {"image": image, "command": command, **kwargs}
                client.runs.append(call)
                output, status, effect = client.script(call)
                return FakeContainer(output, status, effect)

        self.images, self.volumes, self.containers = Images(), Volumes(), Containers()

    def ping(self):
        return True


@pytest.fixture
def fake_repo(tmp_path, monkeypatch):
    """Point build/ and dist/ at a temporary directory."""
    from buildenv import container

    monkeypatch.setattr(container, "host_build_dir", lambda target: tmp_path / "build" / target)
    monkeypatch.setattr(container, "dist_dir", lambda target: tmp_path / "dist" / target)
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)
