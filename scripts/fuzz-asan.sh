#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UBSan (build-asan/) and runs the checkpoint fuzzer and the
# checkpoint/fixture tests against it. FUZZ_ITERATIONS (default 4000) mutations per fixture file.
set -euo pipefail
cd "$(dirname "$0")/.."
node node_modules/cmake-js/bin/cmake-js rebuild -O build-asan --CDSKIPDIT_SANITIZE=ON --CDSKIPDIT_CUDA=OFF >/dev/null
export SKIPDIT_ADDON=build-asan/Release/skipdit.node
export LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export FUZZ_ITERATIONS="${FUZZ_ITERATIONS:-4000}"
npx vitest run test/fuzz.test.ts test/checkpoints.test.ts test/fixtures.test.ts
