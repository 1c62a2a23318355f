#!/usr/bin/env bash
# GPU evidence for the GPTQ family, on a GPU machine over a checkout that carries the built CUDA
# library in .device_carry/ (with its _build_info.json) and vLLM 0.22.0's library in .vllm_ref/
# (0.33.0's, if carried, at /root/vllm33/_C_stable_libtorch.abi3.so). Steps are chosen with
# STEPS (tests, sanitize, bench, bench33); results go to ${OUT:-results}/.
set -uo pipefail
out=${OUT:-results}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
cp .device_carry/_C_stable_libtorch.abi3.so .device_carry/_build_info.json vllm_ops/
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, vllm_ops, hashlib; print('torch', torch.__version__, vllm_ops.build_info); import vllm_ops._loader as l; print(hashlib.sha256(l.LIBRARY_PATH.read_bytes()).hexdigest())"
status=0
for step in ${STEPS:-tests sanitize bench}; do
  case $step in
    tests)
      VLLM_OPS_REQUIRE_GPU=1 timeout ${TEST_TIMEOUT:-300} python3 -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-tests/test_gptq.py} \
        2>&1 | tee "$out/pytest_gptq.log" | tail -n 25 || status=1 ;;
    sanitize)
      for tool in memcheck racecheck initcheck synccheck; do
        timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 python3 scripts/gptq_sanitize_run.py \
          > "$out/sanitize_gptq_$tool.log" 2>&1; echo "compute-sanitizer $tool: rc=$?"; tail -n 2 "$out/sanitize_gptq_$tool.log"
      done ;;
    bench)
      timeout ${BENCH_TIMEOUT:-400} python3 benchmarks/bench_gptq.py --vllm-lib .vllm_ref/_C_stable_libtorch.abi3.so \
        --out "$out" ${BENCH_ARGS:-} > "$out/bench_gptq.log" 2>&1 || status=1
      grep -E "^summary|copy bandwidth" "$out/bench_gptq.log" ;;
    bench33)
      timeout ${BENCH_TIMEOUT:-300} python3 benchmarks/bench_gptq.py --vllm33-lib /root/vllm33/_C_stable_libtorch.abi3.so \
        --out "$out" ${BENCH33_ARGS:-} > "$out/bench_gptq_vllm33.log" 2>&1 || status=1
      grep -E "^summary|copy bandwidth" "$out/bench_gptq_vllm33.log" ;;
  esac
done
exit $status
