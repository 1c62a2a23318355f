#!/usr/bin/env bash
# One-time setup on a fresh machine: a virtualenv in .venv with the task runner, the test tools
# and the header torch pinned in env.yaml. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q -r requirements-dev.txt
torch_version=$(.venv/bin/python -c 'from buildenv import config; print(config.load().torch_header_version)')
.venv/bin/python -m pip install -q "torch==${torch_version}"
echo "bootstrap: .venv ready (torch ${torch_version}); activate with: source .venv/bin/activate"
