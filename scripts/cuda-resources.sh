#!/usr/bin/env bash
# The -Xptxas -v resource report of every CUDA kernel: registers, shared memory, stack and spills per kernel
# and architecture. Compiles each native/cuda .cu file once per architecture into a temporary directory
# (no GPU needed). Usage: scripts/cuda-resources.sh [ARCH ...] (default: 80 90a) > report.txt
set -euo pipefail
cd "$(dirname "$0")/.."
archs=("$@"); [ ${#archs[@]} -eq 0 ] && archs=(80 90a)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '%-6s %-72s %5s %7s %6s %s\n' arch kernel regs smem stack spills
for arch in "${archs[@]}"; do
  for f in native/cuda/*.cu native/cuda/ops/*.cu; do
    nvcc -I native -O3 -std=c++17 -DSKIPDIT_CUDA_ARCHS='"x"' "-gencode=arch=compute_${arch},code=sm_${arch}" -Xptxas -v \
      -c "$f" -o "$tmp/o.o" 2>"$tmp/log" || { cat "$tmp/log"; exit 1; }
    # ptxas prints: Compiling entry function 'NAME' / Function properties: N bytes stack frame, S spill stores, L spill loads
    # / Used R registers, ... M bytes smem
    awk -v arch="sm_$arch" '
      /Compiling entry function/ { match($0, /_Z[^'"'"']*/); name = substr($0, RSTART, RLENGTH) }
      /bytes stack frame/ { stack = $1; spills = $5 "+" $9 }
      /Used [0-9]+ registers/ {
        regs = $5; smem = 0
        for (i = 1; i <= NF; i++) if ($(i+1) == "bytes" && $(i+2) == "smem,") smem = $i
        for (i = 1; i <= NF; i++) if ($(i+1) == "bytes" && $(i+2) == "smem") smem = $i
        cmd = "c++filt -p " name; cmd | getline pretty; close(cmd)
        sub(/^skipdit::cuda::\(anonymous namespace\)::/, "", pretty)
        gsub(/skipdit::cuda::/, "", pretty); gsub(/__nv_bfloat16/, "bf16", pretty); gsub(/__half/, "half", pretty)
        printf "%-6s %-72.72s %5s %7s %6s %s\n", arch, pretty, regs, smem, stack, spills
      }' "$tmp/log"
  done
done
