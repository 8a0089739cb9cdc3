// An AbortSignal as the native side sees it: a flag that a running call checks between units of work
// (transformer blocks, VAE blocks and chunks), so an abort stops a long CPU step within a block or two.
import type { NativeAbortFlag } from '../binding.js';
import { AbortError, InvalidArgumentError } from './errors.js';
import { native } from './native.js';

/** `value` as an optional AbortSignal, or a typed error naming `name`. */
export function checkSignal(value: unknown, name = 'options.signal'): AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) throw InvalidArgumentError.expected(name, 'an AbortSignal', value);
  return value;
}

/**
 * Runs `call` with a native abort flag tied to `signal` (none without a signal). An abort that stops the call
 * natively, or one that comes while it runs, rejects with AbortError carrying the signal's reason.
 */
export async function withAbortFlag<T>(signal: AbortSignal | undefined, call: (flag: NativeAbortFlag | undefined) => Promise<T>): Promise<T> {
  if (!signal) return call(undefined);
  if (signal.aborted) throw new AbortError(undefined, { cause: signal.reason });
  const flag = new (native().NativeAbortFlag)();
  const onAbort = () => flag.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await call(flag);
  } catch (err) {
    if ((err as { code?: string }).code === 'SKIPDIT_ABORTED') throw new AbortError(undefined, { cause: signal.reason });
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
