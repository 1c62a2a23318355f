#!/usr/bin/env bash
# On a GPU machine: install the cu130 wheel from dist/cuda (built in the toolchain image) into a
# scratch target dir, then run scripts/gpu_evidence.sh from a directory without the source
# package, so every import of vllm_ops is the installed wheel.
set -uo pipefail
out=${OUT:-$PWD/results}
mkdir -p "$out" /tmp/site /tmp/w
python3 -m pip install -q --no-deps --no-index --target /tmp/site dist/cuda/*.whl || exit 1
cp -r tests benchmarks buildenv scripts pyproject.toml .vllm_ref /tmp/w/
cd /tmp/w && PYTHONPATH=/tmp/site OUT="$out" bash scripts/gpu_evidence.sh
