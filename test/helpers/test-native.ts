// The test addon: build/Release/skipdit_test.node (CMake target skipdit_test, sources in test/hooks/), the
// entry points that exist only for tests. The product addon (lib/native.ts, binding.d.ts) exports none of them
// and knows nothing of this one; test/binding.test.ts checks both export lists.
//
// `npm test` builds it first (pretest: scripts/build-test-addon.mjs, an incremental `cmake --build build
// --target skipdit skipdit_test`). Which file:
//   SKIPDIT_TEST_ADDON=<file.node>   that file;
//   SKIPDIT_ADDON=<dir>/skipdit.node  <dir>/skipdit_test.node (the same build, e.g. the ASan one of fuzz:asan);
//   otherwise                        build/Release/skipdit_test.node.
// Where there is no configured build/ at all (the addon in use is a prebuilt), the tests of these entry points
// skip with `testAddonSkip` as the reason; where build/ exists, a missing test addon is an error naming the fix.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { NativeCheckpointInfo, NativeWeightFolderOptions } from '../../binding.js';
import { packageRoot } from '../../lib/native.js';

export interface TestBinding {
  /** Runs one CPU kernel of native/cpu/ops on copies of the arrays (test/hooks/kernels.cc). */
  runKernel(name: string, args: Record<string, unknown>): Float32Array;
  kernelNames(): string[];
  /**
   * Runs one op of the op list as a one-node graph on 'cpu' or 'cuda' at a precision ('float32' | 'bfloat16' |
   * 'float16'): inputs uploaded, weights prepared, output downloaded (test/hooks/backend_ops.cc; the spec:
   * op-cases.ts opSpec). 'profiled:*' runs it with the op profiler attached.
   */
  runOp(backend: 'cpu' | 'cuda' | 'profiled:cpu' | 'profiled:cuda', dtype: string, name: string, spec: object): Float32Array;
  opNames(): string[];
  /** Parses a checkpoint held in memory and reads every float tensor (test/hooks/checkpoint_bytes.cc). */
  inspectCheckpointBytes(bytes: Buffer, key?: string | null): NativeCheckpointInfo & { checksum: number };
  /** '' when the CUDA device layer works (upload, one kernel, download), otherwise why not. */
  cudaSelfTest(): string;
  /** A config's forward graph recorded and planned (test/hooks/graph_plan.cc). */
  graphPlan(config: object, batch: number, variant: 'full' | 'cached'): {
    nodes: number; intermediates: number; arenaBytes: number; valueBytes: number; overlaps: number; outside: number; hash: string; flops: number;
  };
  /** Records a graph that reads a value after an in-place node changed it: throws. */
  graphStaleRead(): void;
  /** Every tensor of a model folder through the WeightSource (get, copy, release), bytes as returned (test/hooks/weight_folder.cc). */
  readWeightFolder(dir: string, options?: NativeWeightFolderOptions | null): Array<{ name: string; dtype: string; shape: number[]; data: Buffer }>;
  /** Each tensor copied into its own allocation and kept, as a model load does (for peak-RSS measurements). */
  holdWeightFolder(dir: string, options?: NativeWeightFolderOptions | null, mode?: { release?: boolean }): { tensors: number; bytes: number; seconds: number };
  /** A WeightBinder on the CPU backend takes `params`, then finish() (its Checkpoint error lists missing / misshaped / unexpected). */
  bindWeightFolder(dir: string, options: NativeWeightFolderOptions | null, params: Array<{ name: string; shape: number[] }>): { taken: number; weightBytes: number };
}

/** The names the test addon exports, and none of which the product addon may export. */
export const TEST_ENTRY_POINTS = [
  'bindWeightFolder', 'cudaSelfTest', 'graphPlan', 'graphStaleRead', 'holdWeightFolder', 'inspectCheckpointBytes', 'kernelNames', 'opNames',
  'readWeightFolder', 'runKernel', 'runOp',
] as const satisfies readonly (keyof TestBinding)[];

const root = packageRoot();

/** The file testNative() loads. */
export function testAddonPath(): string {
  if (process.env.SKIPDIT_TEST_ADDON) return path.resolve(process.env.SKIPDIT_TEST_ADDON);
  if (process.env.SKIPDIT_ADDON) return path.join(path.dirname(path.resolve(process.env.SKIPDIT_ADDON)), 'skipdit_test.node');
  return path.join(root, 'build', 'Release', 'skipdit_test.node');
}

/** Why the tests of the test-only entry points skip here ('' when they run). */
export const testAddonSkip: string =
  existsSync(testAddonPath()) || process.env.SKIPDIT_TEST_ADDON || process.env.SKIPDIT_ADDON || existsSync(path.join(root, 'build', 'CMakeCache.txt'))
    ? ''
    : 'no test addon: there is no configured build/ (the addon in use is a prebuilt); `npm run build:native` then `npm test` builds both addons';
/** For test titles: ' (skipped: <reason>)' or ''. */
export const testAddonNote = testAddonSkip ? ` (skipped: ${testAddonSkip})` : '';
if (testAddonSkip) console.log(`tests of runKernel / runOp / inspectCheckpointBytes / cudaSelfTest skipped - ${testAddonSkip}`);

let cached: TestBinding | undefined;

export function testNative(): TestBinding {
  if (cached) return cached;
  const file = testAddonPath();
  if (!existsSync(file)) {
    throw new Error(`the test addon ${file} is missing: npm test builds it (pretest), or run npm run build:test-addon ` +
      '(cmake --build build --target skipdit_test)');
  }
  cached = createRequire(import.meta.url)(file) as TestBinding;
  return cached;
}
