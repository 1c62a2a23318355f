#!/usr/bin/env bash
# compute-sanitizer's four tools over every CUDA op family's driver, on a GPU machine over a
# checkout whose vllm_ops/ holds the CUDA library (invoke build --target cuda --native). Each
# driver calls its family's ops on small, odd, misaligned and boundary shapes. Logs go to
# ${OUT:-results}/sanitize_<driver>_<tool>.log; a table of the results is printed at the end and
# written to sanitize-summary.txt beside them. Exits non-zero when any run reports an error.
#   DRIVERS="gptq gguf" TOOLS=memcheck scripts/gpu-sanitize.sh   # a subset
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-results}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
drivers=${DRIVERS:-activation_quant gguf gptq cuda_only cutlass_scaled_mm}
tools=${TOOLS:-memcheck racecheck initcheck synccheck}
summary="$out/sanitize-summary.txt"
printf '%-20s %-10s %-4s %s\n' driver tool rc result > "$summary"
status=0
for driver in $drivers; do
  for tool in $tools; do
    log="$out/sanitize_${driver}_${tool}.log"
    timeout "${SANITIZE_TIMEOUT:-600}" compute-sanitizer --tool "$tool" --error-exitcode 9 \
      python3 "scripts/${driver}_sanitize_run.py" > "$log" 2>&1
    rc=$?
    [ $rc = 0 ] || status=1
    # compute-sanitizer's closing line (errors or hazards found) and the driver's own (its call count).
    result="$(grep -E "(ERROR|RACECHECK) SUMMARY" "$log" | tail -n 1 | sed 's/^========= //'); $(grep -E "^sanitize pass done" "$log" | tail -n 1)"
    printf '%-20s %-10s %-4s %s\n' "$driver" "$tool" "$rc" "$result" >> "$summary"
  done
done
cat "$summary"
exit $status
