#!/usr/bin/env bash
# Run vLLM 0.22.0's own kernel tests against this repository's library (vllm_ops).
#
#   scripts/vllm-compat.sh [--device cpu|cuda] [--pytest-args="ARGS"] [--sdist FILE] [FILE[::TEST] ...]
#
# It fetches vLLM 0.22.0's sdist from PyPI (URL and sha256 from PyPI's JSON API, the sha256
# checked), caches it under ${VLLM_COMPAT_CACHE:-$HOME/.cache/vllm-ops/vllm-compat}, extracts
# only tests/kernels/ (and tests/__init__.py) there, and runs each test file in its own pytest
# process with scripts/vllm_compat/ first on PYTHONPATH: a stand-in `vllm` package, our own code,
# that serves the vLLM names the tests import from vllm_ops (torch.ops._C included) and a pytest
# plugin. vLLM's test files are never copied into this repository. The first run needs network
# access to PyPI; later runs use the cache.
#
# FILE is a path under tests/kernels (or a bare file name); the default is the files the
# adapter serves: core/test_activation.py and quantization/test_{int8_quant,fp8_quant,gptq,
# ggml,awq,cutlass_scaled_mm}.py. --device cpu (the default without a GPU) maps the tests'
# "cuda" tensors to the CPU; --device cuda runs them as written. --pytest-args passes extra
# arguments to every pytest run, e.g. --pytest-args="-k 'not large'" (with the "=": a value that
# starts with "-" is otherwise taken for an option of this script). Each file's pytest output
# goes to <cache>/logs (--log-dir to change).
#
# Output: one line per file with passed / failed / skipped / errors and its time, the most
# frequent failure causes under it (with one example test each), and a total line.
#
# Exit status: 0 when every file ran to the end, whatever its tests' outcomes (failures are
# the result being measured, not an error of this script); 2 when the harness itself broke:
# bad arguments, PyPI unreachable with nothing cached, a sha256 mismatch, an unreadable sdist,
# or a pytest process that crashed, hit an internal or usage error, or left no report (that
# file's counts are then incomplete).
#
# Python: $VLLM_COMPAT_PYTHON, else the repository's .venv, else python3 (needs torch, pytest,
# numpy, and gguf for test_ggml.py). vllm_ops comes from this checkout when it holds a build
# (vllm_ops/_build_info.json), otherwise from the installed package.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${VLLM_COMPAT_PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$here/../.venv/bin/python" ]]; then python="$here/../.venv/bin/python"; else python=python3; fi
fi
exec "$python" "$here/vllm_compat/vllm_compat_run.py" "$@"
