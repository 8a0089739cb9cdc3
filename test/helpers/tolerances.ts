// Tolerances shared by the test files (docs/cuda.md explains each). max|a-b| / max|b| (relErr).
/** A float32 fixture forward on the CPU backend against the golden vectors. */
export const FIXTURE_TOL_CPU = 1e-5;
/** A float32 CUDA op against its CPU twin (strict fp32 on both; only summation order differs). */
export const OP_TOL_CUDA_F32 = 2e-5;
/** A float32 CUDA fixture forward, tap, CFG output, cached sequence or VAE decode. */
export const FIXTURE_TOL_CUDA_F32 = 1e-4;

/** The float32 fixture tolerance of the backend a model actually runs on. */
export function fixtureTolerance(backend: string): number {
  return backend === 'cpu' ? FIXTURE_TOL_CPU : FIXTURE_TOL_CUDA_F32;
}
