#!/usr/bin/env bash
# One command from a fresh clone to a working build: a virtualenv with the task runner and the
# header torch pinned in env.yaml, a Docker engine (installed from Debian when run as root),
# the base and toolchain images, and the cpu target built in its image into dist/cpu/.
# Idempotent. Pass --no-build to stop after the tools.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q -r requirements-dev.txt
torch_version=$(.venv/bin/python -c 'from buildenv import config; print(config.load().torch_header_version)')
.venv/bin/python -m pip install -q "torch==${torch_version}"
# The gguf package (its version pinned for the images) for the host test of the generated grids.
.venv/bin/python -m pip install -q "$(.venv/bin/python -c 'from buildenv import suite; print(suite.gguf_requirement())')"
echo "bootstrap: .venv ready (torch ${torch_version})"
[ "${1:-}" = "--no-build" ] && exit 0
scripts/ensure-docker.sh
.venv/bin/invoke build --target cpu
echo "bootstrap: done. Run the tests with: .venv/bin/invoke test"
