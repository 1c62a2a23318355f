#!/usr/bin/env bash
# Issue rate, pipe utilisation and stall reasons of the mat-vec kernels (scripts/ncu_pipes_probe.py)
# under Nsight Compute: ncu_pipes.sh <out file> [GGUF types...]
out=$1; shift
m=smsp__issue_active.avg.pct_of_peak_sustained_active
for p in alu fma fmaheavy fmalite lsu adu uniform; do m+=,sm__inst_executed_pipe_$p.avg.pct_of_peak_sustained_active; done
for r in long_scoreboard short_scoreboard wait math_pipe_throttle mio_throttle lg_throttle barrier not_selected \
         dispatch_stall no_instruction branch_resolving membar drain sleeping; do
  m+=,smsp__average_warps_issue_stalled_${r}_per_issue_active.ratio
done
ncu --kernel-name regex:"dot_kernel|fused_mma_few_rows" --section SpeedOfLight --section Occupancy --metrics "$m" \
  python3 scripts/ncu_pipes_probe.py "$@" > "$out" 2>&1
