#!/usr/bin/env bash
# Runs on a GPU machine over a checkout that carries a built CUDA-target library in vllm_ops/
# and vLLM 0.22.0's library in .vllm_ref/: the CUDA test suite, the semantic comparison with
# vLLM and the side-by-side benchmark. Results go to ${OUT:-results}/.
set -uo pipefail
out=${OUT:-results}
mkdir -p "$out"
export PYTHONPATH=${PYTHONPATH:-$PWD} PYTHONUNBUFFERED=1
vllm_lib=.vllm_ref/_C_stable_libtorch.abi3.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c 'import torch, vllm_ops; print("torch", torch.__version__, "| vllm_ops", vllm_ops.build_info)'
python3 -c "import vllm_ops._loader as l, hashlib; print(l.LIBRARY_PATH, hashlib.sha256(l.LIBRARY_PATH.read_bytes()).hexdigest())"
status=0
VLLM_OPS_REQUIRE_GPU=1 python3 -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-tests/test_activation.py} \
  2>&1 | tee "$out/pytest_gpu.log" | tail -n 15 || status=1
if [ "${SKIP_COMPARE:-0}" != 1 ]; then
  python3 benchmarks/compare_vllm_activation.py --vllm-lib "$vllm_lib" --out "$out" 2>&1 | tee "$out/compare.log" || status=1
fi
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  python3 benchmarks/bench_activation.py --vllm-lib "$vllm_lib" --out "$out" ${BENCH_ARGS:-} \
    > "$out/bench.log" 2>&1 || status=1
  grep -A20 "^summary" "$out/bench.log"
fi
exit $status
