#!/usr/bin/env bash
# Builds the addon and the test addon (inspectCheckpointBytes) with AddressSanitizer + UBSan (build-asan/) and
# runs the checkpoint fuzzer and the checkpoint/fixture tests against them (test/helpers/test-native.ts takes
# the test addon beside SKIPDIT_ADDON). FUZZ_ITERATIONS (default 4000) mutations per fixture file.
set -euo pipefail
cd "$(dirname "$0")/.."
node node_modules/cmake-js/bin/cmake-js rebuild -O build-asan --CDSKIPDIT_SANITIZE=ON --CDSKIPDIT_CUDA=OFF >/dev/null
cmake --build build-asan --target skipdit_test --parallel 2 >/dev/null
export SKIPDIT_ADDON=build-asan/Release/skipdit.node
export LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export FUZZ_ITERATIONS="${FUZZ_ITERATIONS:-4000}"
npx vitest run test/fuzz.test.ts test/checkpoints.test.ts test/fixtures.test.ts test/weight-folder.test.ts
