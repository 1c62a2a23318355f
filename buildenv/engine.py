"""The connection to the Docker engine, with errors that say how to fix the situation."""

from __future__ import annotations

import os
import stat

from .errors import BuildEnvError

START_HINT = (
    "Start a Docker engine first: on Debian/Ubuntu `sudo apt-get install -y docker.io` and then "
    "`sudo systemctl start docker` (or, without systemd, `sudo dockerd > /tmp/dockerd.log 2>&1 &`). "
    "Or build on this machine without containers: `invoke build --native`."
)


class EngineUnavailable(BuildEnvError):
    pass


def connect(client_factory=None):
    """A docker-py client talking to a live engine; EngineUnavailable otherwise."""
    try:
        import docker  # noqa: PLC0415
    except ImportError:
        raise EngineUnavailable(
            "the Python package `docker` is not installed; run ./bootstrap.sh"
        ) from None
    factory = client_factory or docker.from_env
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    _check_socket_path(host)
    try:
        client = factory()
        client.ping()
    except docker.errors.DockerException as exc:
        raise EngineUnavailable(f"no Docker engine answers at {host} ({_reason(exc)}). {START_HINT}") from None
    return client


def _check_socket_path(host: str) -> None:
    """A unix:// DOCKER_HOST that names something other than a socket is a setting to fix, not a
    daemon that is down."""
    if not host.startswith("unix://"):
        return
    path = host.removeprefix("unix://")
    if os.path.isdir(path):
        what = "a directory"
    elif os.path.exists(path) and not stat.S_ISSOCK(os.stat(path).st_mode):
        what = "a regular file" if os.path.isfile(path) else "something other than a socket"
    else:
        return
    raise EngineUnavailable(f"DOCKER_HOST={host} names {what}, not the engine's socket: point DOCKER_HOST at the "
                            "socket (usually unix:///var/run/docker.sock) or unset it")


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "No such file or directory" in text or "FileNotFoundError" in text:
        return "the socket does not exist: the daemon is not running or not installed"
    if "Permission denied" in text:
        return "permission denied on the socket: add yourself to the `docker` group or use sudo"
    if "Connection refused" in text:
        return "connection refused: the daemon is not running"
    return text.splitlines()[0][:200] if text else type(exc).__name__
