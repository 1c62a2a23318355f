#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs Debian's docker.io when absent (root only) and
# starts dockerd when it is not running. Prints what it did.
set -euo pipefail
if docker info >/dev/null 2>&1; then echo "docker: engine already running"; exit 0; fi
if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "docker: no engine installed; run as root or: sudo apt-get install -y docker.io" >&2; exit 1
  fi
  echo "docker: installing docker.io and debootstrap from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  if command -v systemctl >/dev/null 2>&1 && systemctl start docker 2>/dev/null; then
    echo "docker: started with systemctl"
  else
    [ "$(id -u)" = 0 ] || { echo "docker: dockerd is not running; start it as root" >&2; exit 1; }
    nohup dockerd >/var/log/dockerd.log 2>&1 &
    echo "docker: started dockerd (log /var/log/dockerd.log)"
  fi
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
docker info >/dev/null 2>&1 || { echo "docker: engine did not come up; see /var/log/dockerd.log" >&2; exit 1; }
command -v debootstrap >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
echo "docker: engine $(docker version --format '{{.Server.Version}}') ready"
