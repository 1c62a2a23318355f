#!/usr/bin/env bash
# GPU evidence for the GGUF family, on a GPU machine over a checkout that carries the built CUDA
# library in .device_carry/ (with its _build_info.json), vLLM 0.22.0's library in .vllm_ref/ and
# the gguf wheel in .whl/. Steps are chosen with STEPS (tests, sanitize, bench); results go to
# ${OUT:-results}/.
set -uo pipefail
out=${OUT:-results}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
export PYTHONUNBUFFERED=1
cp .device_carry/_C_stable_libtorch.abi3.so .device_carry/_build_info.json vllm_ops/
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, vllm_ops, hashlib; print('torch', torch.__version__, vllm_ops.build_info); import vllm_ops._loader as l; print(hashlib.sha256(l.LIBRARY_PATH.read_bytes()).hexdigest())"
status=0
for step in ${STEPS:-tests sanitize bench}; do
  case $step in
    tests)
      VLLM_OPS_REQUIRE_GPU=1 timeout ${TEST_TIMEOUT:-300} python3 -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-tests/test_gguf.py} \
        2>&1 | tee "$out/pytest_gguf.log" | tail -n 25 || status=1 ;;
    sanitize)
      for tool in memcheck racecheck initcheck synccheck; do
        timeout 120 compute-sanitizer --tool $tool --error-exitcode 9 python3 scripts/gguf_sanitize_run.py \
          > "$out/sanitize_$tool.log" 2>&1; echo "compute-sanitizer $tool: rc=$?"; tail -n 2 "$out/sanitize_$tool.log"
      done ;;
    bench)
      timeout ${BENCH_TIMEOUT:-400} python3 benchmarks/bench_gguf.py --vllm-lib .vllm_ref/_C_stable_libtorch.abi3.so \
        --out "$out" ${BENCH_ARGS:-} > "$out/bench_gguf.log" 2>&1 || status=1
      grep -E "^summary|copy bandwidth" "$out/bench_gguf.log" ;;
  esac
done
exit $status
