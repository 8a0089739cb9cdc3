#!/usr/bin/env bash
# npm run test:gpu - the one prepared GPU check (fits a 10-minute call on an H200, build included):
#   1. the -Xptxas -v resource report for the local GPU's architecture (also without a GPU: sm_80 + sm_90a);
#   2. a build for the local GPU (CMAKE_CUDA_ARCHITECTURES from nvidia-smi's compute capability): the addon and
#      the test addon (cmake --build build --target skipdit_test: runOp, cudaSelfTest, ... for the tests);
#   3. vitest run test/cuda.test.ts (every op vs its CPU twin, fixtures, cache sequence, VAE) and the
#      CPU-side op-hook suite, and test/latents.test.ts (Pipeline steps with the latents on the device);
#   4. compute-sanitizer --tool memcheck on a short run (scripts/gpu-smoke.mjs), where installed;
#   5. the benchmark (bench/torch/gpu_bench.py when torch has CUDA, then bench/gpu.ts);
# then prints one short table. Details go to $OUT (else ./gpu-results/). Without a GPU it does step 1, says
# "no GPU: skipped" and exits 0.
# The lent GPU machine is offline and has no Node.js: scripts/prepare-gpu-carry.sh packs node, a pruned
# node_modules, dist/ and a fallback addon into .gpu/carry.tar.xz; carry '.gpu' and this script unpacks it
# (docs/cuda.md has the exact `run` call). Nothing here calls npm or npx (not there either).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -f .gpu/carry.tar.xz ] && { ! command -v node >/dev/null || [ ! -d node_modules ]; }; then
  echo "== unpacking .gpu/carry.tar.xz"
  mkdir -p .gpu/x
  tar -xJf .gpu/carry.tar.xz -C .gpu/x 2>/dev/null ||
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' .gpu/carry.tar.xz .gpu/x || exit 1
  export PATH="$PWD/.gpu/x/bin:$PATH"
  [ -e node_modules ] || ln -s .gpu/x/node_modules node_modules
  [ -e dist ] || cp -r .gpu/x/dist dist  # a copy: dist/lib/native.js finds the addon relative to its real path
fi
bin=node_modules/.bin
OUT_DIR=${OUT:-gpu-results}
mkdir -p "$OUT_DIR"
declare -A status
run_step() { # name, command...
  local name=$1; shift
  local t0=$SECONDS
  echo "== $name"
  if "$@" >"$OUT_DIR/$name.log" 2>&1; then status[$name]="ok ($((SECONDS - t0)) s)"; else status[$name]="FAILED ($((SECONDS - t0)) s, see $name.log)"; fi
  tail -5 "$OUT_DIR/$name.log"
}

cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
if [ -z "$cc" ]; then
  echo "no GPU found (nvidia-smi gave no compute capability)"
  if command -v nvcc >/dev/null; then run_step resources scripts/cuda-resources.sh 80 90a; grep -c . "$OUT_DIR/resources.log" >/dev/null
    echo "kernels with spills or stack:"; awk 'NR>1 && ($NF != "0+0" || $(NF-1) != "0")' "$OUT_DIR/resources.log"
  else echo "nvcc not found: no resource report"; fi
  echo "no GPU: skipped (build for the local GPU, cuda tests, memcheck, benchmark)"
  exit 0
fi
arch=$cc; [ "$cc" = 90 ] && arch=90a  # wgmma-capable target on Hopper
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT_DIR/gpu.txt"

run_step resources scripts/cuda-resources.sh "$arch"
# the addon, then the test addon (not part of the default build) on the same build tree
build_addons() {
  node $bin/cmake-js rebuild --parallel "$(nproc)" --CDCMAKE_CUDA_ARCHITECTURES="$arch" &&
    cmake --build build --target skipdit_test --parallel "$(nproc)"
}
run_step build build_addons
if [ "${status[build]}" != "${status[build]#FAILED}" ] && [ -f .gpu/x/prebuilt/skipdit.node ]; then
  mkdir -p build/Release && cp .gpu/x/prebuilt/skipdit.node build/Release/ && status[build]+=", using the carried sm_80+sm_90a build"
  if [ -f .gpu/x/prebuilt/skipdit_test.node ]; then cp .gpu/x/prebuilt/skipdit_test.node build/Release/; fi
fi
if [ -e $bin/tsc ]; then node $bin/tsc -p tsconfig.json >/dev/null 2>&1 || status[build]="FAILED (tsc)"; fi  # else the carried dist/
# backend 'auto': does the known-answer self-test pass on this device? (lib/backends.ts; prints the report)
run_step auto-selftest node -e "import('./dist/lib/index.js').then(async (m) => { const c = await m.autoBackend(); console.log(JSON.stringify(c, null, 1)); if (c.backend !== 'cuda') process.exit(1); })"
run_step cuda-tests node $bin/vitest run test/cuda.test.ts test/cuda-text-encoders.test.ts test/backend-ops.test.ts test/backends.test.ts test/latents.test.ts
if command -v compute-sanitizer >/dev/null; then
  run_step memcheck compute-sanitizer --tool memcheck --error-exitcode 1 node scripts/gpu-smoke.mjs
else
  status[memcheck]="not installed"
fi
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  # random XL weights of the given family, shared by the PyTorch and skipdit benchmarks
  write_ckpt() { node -e "import('./dist/lib/random-checkpoint.js').then(async m => { const { benchConfig } = await import('./dist/lib/bench.js'); m.writeRandomCheckpoint(process.argv[1], benchConfig('XL', process.argv[2])); })" "$1" "$2"; }
  ckpt=$(mktemp -d)/dit-xl-2-skip.safetensors
  latte=$(dirname "$ckpt")/latte-xl-2-skip.safetensors
  write_ckpt "$ckpt" dit
  write_ckpt "$latte" latte
  run_step torch-bench sh -c "python3 bench/torch/gpu_bench.py '$ckpt' --batch 2 > '$OUT_DIR/torch.json' && python3 bench/torch/gpu_bench.py '$latte' --batch 2 --no-peak > '$OUT_DIR/torch-latte.json'"
  run_step bench node dist/bench/gpu.js --ckpt "$ckpt" --torch "$OUT_DIR/torch.json" --latte-ckpt "$latte" --torch-latte "$OUT_DIR/torch-latte.json" --out "$OUT_DIR"
else
  status[torch-bench]="torch with CUDA not available"
  run_step bench node dist/bench/gpu.js --out "$OUT_DIR"
fi

echo
echo "== resources (spills / stack):"; awk 'NR>1 && ($NF != "0+0" || $(NF-1) != "0")' "$OUT_DIR/resources.log"
echo "== auto self-test:"; grep -E '"(backend|reason|passed)"' "$OUT_DIR/auto-selftest.log" | head -4
echo "== cuda tests:"; grep -E "Tests +[0-9]" "$OUT_DIR/cuda-tests.log" | tail -1
echo "== bench:"; sed -n '/^skipdit CUDA/,$p' "$OUT_DIR/bench.log"
echo "== summary ($(cat "$OUT_DIR/gpu.txt"), sm_$arch)"
fail=0
for s in resources build auto-selftest cuda-tests memcheck torch-bench bench; do
  printf '%-12s %s\n' "$s" "${status[$s]:-skipped}"
  case "${status[$s]:-}" in FAILED*) fail=1 ;; esac
done
exit $fail
