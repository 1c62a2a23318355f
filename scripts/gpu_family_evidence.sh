#!/usr/bin/env bash
# GPU evidence for one op family (FAMILY=gguf or gptq), on a GPU machine over a checkout that
# carries the built CUDA library in .device_carry/ (with its _build_info.json), vLLM 0.22.0's
# library in .vllm_ref/, optional wheels in .whl/ (the gguf package) and, for bench33, vLLM
# 0.33.0's library at /root/vllm33/. Steps: STEPS (tests, sanitize, bench, bench33); results go
# to ${OUT:-results}/. The family's tests are tests/test_<family>.py, its sanitizer pass
# scripts/<family>_sanitize_run.py, its benchmark benchmarks/bench_<family>.py.
set -uo pipefail
family=${FAMILY:?set FAMILY=gguf or gptq}
out=${OUT:-results}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
fi
cp .device_carry/_C_stable_libtorch.abi3.so .device_carry/_build_info.json vllm_ops/
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, vllm_ops, hashlib; print('torch', torch.__version__, vllm_ops.build_info); import vllm_ops._loader as l; print(hashlib.sha256(l.LIBRARY_PATH.read_bytes()).hexdigest())"
status=0
for step in ${STEPS:-tests sanitize bench}; do
  case $step in
    tests)
      VLLM_OPS_REQUIRE_GPU=1 timeout ${TEST_TIMEOUT:-300} python3 -m pytest -q -p no:cacheprovider \
        ${PYTEST_ARGS:-tests/test_$family.py} 2>&1 | tee "$out/pytest_$family.log" | tail -n 25 || status=1 ;;
    sanitize)
      for tool in memcheck racecheck initcheck synccheck; do
        timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 python3 scripts/${family}_sanitize_run.py \
          > "$out/sanitize_${family}_$tool.log" 2>&1; echo "compute-sanitizer $tool: rc=$?"
        tail -n 2 "$out/sanitize_${family}_$tool.log"
      done ;;
    bench)
      timeout ${BENCH_TIMEOUT:-400} python3 benchmarks/bench_$family.py --vllm-lib .vllm_ref/_C_stable_libtorch.abi3.so \
        --out "$out" ${BENCH_ARGS:-} > "$out/bench_$family.log" 2>&1 || status=1
      grep -E "^summary|copy bandwidth" "$out/bench_$family.log" ;;
    bench33)
      timeout ${BENCH_TIMEOUT:-300} python3 benchmarks/bench_$family.py --vllm33-lib /root/vllm33/_C_stable_libtorch.abi3.so \
        --out "$out" ${BENCH33_ARGS:-} > "$out/bench_${family}_vllm33.log" 2>&1 || status=1
      grep -E "^summary|copy bandwidth" "$out/bench_${family}_vllm33.log" ;;
  esac
done
exit $status
