// Which backend runs a model. 'auto' picks CUDA only after a known-answer self-test in this process: the
// bundled digits model's forward and a Skip-Cache cached step on CUDA, against the CPU backend, within the
// documented tolerances (float32 weights 1e-4, bfloat16 weights 5e-2; docs/cuda.md). A device whose kernels
// give wrong numbers is then never used behind the user's back. `backend: 'cuda'` stays explicit and unguarded.
import { bundledModel } from './bundled.js';
import { BackendUnavailableError, InvalidArgumentError, fromNativeError } from './errors.js';
import type { Model, ModelDType } from './model.js';
import { loadModel } from './model.js';
import { native } from './native.js';
import { gaussianNoise } from './random.js';
import { relativeError } from './quality-metrics.js';

export type BackendName = 'cpu' | 'cuda';

export interface BackendInfo {
  name: BackendName;
  /** Whether a model can run on this backend here. */
  available: boolean;
  /** Why not, when unavailable. */
  reason?: string;
  details: Record<string, unknown>;
  /** CUDA: the 'auto' self-test of this process, once it has run (autoBackend(), or a load with 'auto'). */
  selfTest?: SelfTestReport;
}

/** One comparison of the self-test: relErr = max|candidate - cpu| / max|cpu|. */
export interface SelfTestCheck {
  name: string;
  error: number;
  tolerance: number;
  passed: boolean;
}

export interface SelfTestReport {
  passed: boolean;
  /** Why it failed. */
  reason?: string;
  checks: SelfTestCheck[];
  ms: number;
  /** Run under SKIPDIT_SIMULATE_CUDA_SELFTEST_FAILURE (the CPU stood in for the device). */
  simulated?: boolean;
}

export interface AutoChoice {
  backend: BackendName;
  /** Why this backend. */
  reason: string;
  selfTest?: SelfTestReport;
}

/** relErr tolerances of the self-test, by weight precision (docs/cuda.md, "backend: 'auto'"). */
export const SELF_TEST_TOLERANCE: Readonly<Record<'float32' | 'bfloat16', number>> = Object.freeze({ float32: 1e-4, bfloat16: 5e-2 });

/**
 * Testing switch: behave as if a CUDA device were present whose self-test fails. The self-test then really runs,
 * with the CPU backend standing in for the device and a 1% error injected into its outputs.
 */
const SIMULATE_FAILURE = 'SKIPDIT_SIMULATE_CUDA_SELFTEST_FAILURE';

let selfTestReport: SelfTestReport | undefined;
let autoChoice: Promise<AutoChoice> | undefined;

/** The backends of this build and, for those that cannot run, why. */
export function backends(): BackendInfo[] {
  let cpu, cuda;
  try {
    [cpu, cuda] = native().backends();
  } catch (err) {
    throw fromNativeError(err); // e.g. a bad SKIPDIT_NUM_THREADS
  }
  const info: BackendInfo[] = [
    { name: 'cpu', available: true, details: { threads: cpu.threads, gemm: cpu.gemm, gemmBf16: cpu.gemmBf16 } },
    {
      name: 'cuda',
      available: cuda.available,
      reason: cuda.reason,
      details: {
        compiled: cuda.compiled,
        deviceAvailable: cuda.deviceAvailable,
        architectures: cuda.architectures,
        devices: cuda.devices,
        driverVersion: cuda.driverVersion,
        runtimeVersion: cuda.runtimeVersion,
      },
    },
  ];
  if (selfTestReport) info[1].selfTest = selfTestReport;
  return info;
}

/**
 * What 'auto' picks in this process (computed once; the self-test takes about a second on a GPU):
 * SKIPDIT_BACKEND=cpu|cuda overrides; otherwise CUDA when a device is usable and its self-test passes, else CPU.
 */
export function autoBackend(): Promise<AutoChoice> {
  const forced = process.env.SKIPDIT_BACKEND;
  if (forced !== undefined && forced !== '' && forced !== 'auto') {
    if (forced !== 'cpu' && forced !== 'cuda') {
      return Promise.reject(InvalidArgumentError.expected('SKIPDIT_BACKEND', "'cpu', 'cuda' or 'auto'", forced));
    }
    return Promise.resolve({ backend: forced, reason: `SKIPDIT_BACKEND=${forced}` });
  }
  autoChoice ??= chooseAuto();
  return autoChoice;
}

async function chooseAuto(): Promise<AutoChoice> {
  const simulated = process.env[SIMULATE_FAILURE] === '1';
  const cuda = backends()[1];
  if (!cuda.available && !simulated) return { backend: 'cpu', reason: `CUDA unavailable: ${cuda.reason}` };
  const report = await runSelfTest(simulated ? 'cpu' : 'cuda', simulated ? 0.01 : 0);
  report.simulated = simulated || undefined;
  selfTestReport = report;
  if (report.passed && !simulated) return { backend: 'cuda', reason: 'CUDA self-test passed', selfTest: report };
  return { backend: 'cpu', reason: `CUDA self-test failed${simulated ? ' (simulated)' : ''}: ${report.reason}`, selfTest: report };
}

/** The backend a call with `requested` runs on (options.backend of loadModel / loadVae). */
export async function chooseBackend(requested: unknown): Promise<BackendName> {
  if (requested === undefined || requested === 'auto') return (await autoBackend()).backend;
  if (requested === 'cpu') return 'cpu';
  if (requested === 'cuda') {
    const cuda = backends()[1];
    if (!cuda.available) throw new BackendUnavailableError(`CUDA backend unavailable: ${cuda.reason}`);
    return 'cuda';
  }
  throw InvalidArgumentError.expected('options.backend', "'auto', 'cpu' or 'cuda'", requested);
}

/**
 * The known-answer test: the bundled model on `candidate` against the CPU backend in float32, for a forward and
 * for a full + cached Skip-Cache pair, in float32 and bfloat16 weights. `fault` scales the candidate's outputs
 * by (1 + fault) (the simulation switch). Never throws: an error is a failed test with its message.
 */
export async function runSelfTest(candidate: BackendName, fault = 0): Promise<SelfTestReport> {
  const started = performance.now();
  const checks: SelfTestCheck[] = [];
  const loaded: Model[] = [];
  try {
    const load = async (backend: BackendName, dtype: ModelDType) => {
      const m = await loadModel(bundledModel.path(), { backend, dtype });
      loaded.push(m);
      return m;
    };
    const reference = await outputs(await load('cpu', 'float32'), 0);
    for (const dtype of ['float32', 'bfloat16'] as const) {
      const got = await outputs(await load(candidate, dtype), fault);
      for (const name of Object.keys(reference) as Array<keyof typeof reference>) {
        const error = relativeError(got[name], reference[name]);
        const tolerance = SELF_TEST_TOLERANCE[dtype];
        checks.push({ name: `${dtype} ${name}`, error, tolerance, passed: error <= tolerance });
      }
    }
    const failed = checks.filter((c) => !c.passed);
    const reason = failed.length === 0 ? undefined
      : failed.map((c) => `${c.name} error ${c.error.toExponential(2)} > ${c.tolerance}`).join('; ');
    return { passed: failed.length === 0, reason, checks, ms: performance.now() - started };
  } catch (err) {
    return { passed: false, reason: (err as Error).message, checks, ms: performance.now() - started };
  } finally {
    for (const m of loaded) m.dispose();
  }
}

/** A forward, then a full and a cached call through a 'dit:2:1' cache (N 2, k 1), on fixed seeded inputs (batch 2). */
async function outputs(model: Model, fault: number): Promise<{ forward: Float32Array; full: Float32Array; cached: Float32Array }> {
  const c = model.config;
  const shape = [2, c.in_channels, c.input_size, c.input_size];
  const x = { data: gaussianNoise(shape.reduce((a, b) => a * b, 1), 20261206), shape };
  const y = [3, 7];
  const forward = await model.forward({ x, t: [500, 250], y });
  const cache = model.createCache('dit:2:1');
  const full = await model.forward({ x, t: 600, y }, { cache });
  const cached = await model.forward({ x, t: 580, y }, { cache });
  if (full.cached || !cached.cached) throw new Error('the Skip-Cache pair did not run full then cached');
  const scale = (a: Float32Array) => (fault === 0 ? a : a.map((v) => v * (1 + fault)));
  return { forward: scale(forward.data), full: scale(full.data), cached: scale(cached.data) };
}

function relErr(a: Float32Array, b: Float32Array): number {
  let diff = 0, ref = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    ref = Math.max(ref, Math.abs(b[i]));
  }
  return a.length !== b.length ? Infinity : diff / ref;
}
