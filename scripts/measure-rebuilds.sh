#!/usr/bin/env bash
# Measures the rebuild times of one target in its image on this machine:
#   cold (empty compiler cache), clean with a warm cache (twice), no-op, and one source edited
#   (a real code change appended to one file, restored afterwards).
#     scripts/measure-rebuilds.sh cuda
# It empties the shared compiler-cache volume, so other targets' next builds start cold too.
set -euo pipefail
target=${1:?usage: scripts/measure-rebuilds.sh cpu|cuda|rocm}
cd "$(dirname "$0")/.."
invoke=.venv/bin/invoke
case $target in
  cpu) edited=csrc/cpu/activation_cpu.cpp ;;
  cuda|rocm) edited=csrc/libtorch_stable/activation/activation_kernels.cu ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
backup=$(mktemp)
cp "$edited" "$backup"
trap 'cp "$backup" "$edited"; rm -f "$backup"' EXIT

timed() {  # label, then the command; prints "label seconds"
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" > /tmp/measure-rebuilds.log 2>&1 || { echo "$label failed; log: /tmp/measure-rebuilds.log" >&2; exit 1; }
  end=$(date +%s.%N)
  printf '%-28s %7.1f s\n' "$label" "$(echo "$end - $start" | bc)"
}

docker volume rm -f vllm-ops-ccache > /dev/null
rm -rf "build/$target"
timed "cold" $invoke build --target "$target"
for i in 1 2; do
  rm -rf "build/$target"
  timed "clean, warm cache ($i)" $invoke build --target "$target"
done
timed "no-op" $invoke build --target "$target"
echo "namespace { [[maybe_unused]] constexpr int kMeasuredEdit = $(date +%s); }" >> "$edited"
timed "one file edited" $invoke build --target "$target"
cp "$backup" "$edited"
timed "edit reverted" $invoke build --target "$target"
