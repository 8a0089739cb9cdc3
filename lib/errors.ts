// The typed errors of skipdit. Every failure a user can cause is one of these, so callers can
// `instanceof` them; native errors arrive with a `code` and are mapped by fromNativeError().

export class SkipditError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A value passed by the caller has the wrong type, shape or range. */
export class InvalidArgumentError extends SkipditError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'SKIPDIT_INVALID_ARGUMENT', options);
  }
  /** "Expected <expected> for <name> but received <received>". */
  static expected(name: string, expected: string, received: unknown): InvalidArgumentError {
    return new InvalidArgumentError(`Expected ${expected} for ${name} but received ${describe(received)}`);
  }
}

/** A checkpoint file is malformed, or its tensors do not match the model. */
export class CheckpointError extends SkipditError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'SKIPDIT_CHECKPOINT', options);
  }
}

/** The requested backend cannot run here; `message` says why. */
export class BackendUnavailableError extends SkipditError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'SKIPDIT_BACKEND_UNAVAILABLE', options);
  }
}

/** The object was disposed and its native memory released. */
export class DisposedError extends SkipditError {
  constructor(what: string) {
    super(`${what} has been disposed`, 'SKIPDIT_DISPOSED');
  }
}

/** The operation was cancelled through its AbortSignal. */
export class AbortError extends SkipditError {
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, 'SKIPDIT_ABORTED', options);
  }
}

/** A bug or system failure inside the native code (reported, never a crash). */
export class InternalError extends SkipditError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'SKIPDIT_INTERNAL', options);
  }
}

/** Writing an output file failed (no space left, permissions, a read-only file system, ...); `message` says which file and why. */
export class OutputError extends SkipditError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'SKIPDIT_OUTPUT', options);
  }
}

/** What a HubError was about. */
export interface HubWhere {
  repo: string;
  file?: string;
  revision?: string;
  /** The HTTP status, when the server answered. */
  status?: number;
}

/**
 * A Hugging Face Hub download failed. `repo`, `file` and `revision` say what was asked for; the subclass says why
 * (its `code` is the class's static `code`). Nothing that looks complete is left in the cache: a partial download
 * stays `blobs/<etag>.incomplete` (resumed by the next pull) and a corrupt one is deleted.
 */
export class HubError extends SkipditError {
  static readonly code: string = 'SKIPDIT_HUB';
  readonly repo: string;
  readonly file?: string;
  readonly revision?: string;
  readonly status?: number;
  constructor(message: string, where: HubWhere, options?: { cause?: unknown }) {
    super(message, (new.target as typeof HubError).code, options);
    this.repo = where.repo;
    this.file = where.file;
    this.revision = where.revision;
    this.status = where.status;
  }
}

/** The repository, revision or file does not exist (404), or the repository is private and no token was sent. */
export class HubNotFoundError extends HubError {
  static override readonly code = 'SKIPDIT_HUB_NOT_FOUND';
  /** What was not found. */
  readonly missing: 'repo' | 'revision' | 'file';
  constructor(message: string, missing: 'repo' | 'revision' | 'file', where: HubWhere, options?: { cause?: unknown }) {
    super(message, where, options);
    this.missing = missing;
  }
}

/** 401 / 403: the repository is gated or private and the token (HF_TOKEN, $HF_HOME/token) is missing or not allowed. */
export class HubAuthError extends HubError {
  static override readonly code = 'SKIPDIT_HUB_AUTH';
}

/** Offline (HF_HUB_OFFLINE or `offline: true`) and the files are not in the cache. */
export class HubOfflineError extends HubError {
  static override readonly code = 'SKIPDIT_HUB_OFFLINE';
}

/** The Hub or its CDN could not be reached, kept failing (5xx), stalled, or answered what is not the Hub's API. A partial file is kept to resume. */
export class HubNetworkError extends HubError {
  static override readonly code = 'SKIPDIT_HUB_NETWORK';
}

/** A downloaded file's size or checksum is not the one the Hub reports; the file was deleted. */
export class HubIntegrityError extends HubError {
  static override readonly code = 'SKIPDIT_HUB_INTEGRITY';
}

/** The cache folder cannot hold the file (no space left, quota, read-only, permissions); nothing complete-looking was written. */
export class HubStorageError extends HubError {
  static override readonly code = 'SKIPDIT_HUB_STORAGE';
}

/** The largest finite float32. Native code computes in float32, where anything larger in magnitude is Infinity. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** Whether `value` is a number that stays finite as a float32 (what a float parameter becomes in native code). */
export function isFloat32(value: unknown): value is number {
  return typeof value === 'number' && Math.abs(value) <= FLOAT32_MAX;
}

/** The `expected` text of the errors for a float parameter that native code receives as a float32. */
export const FLOAT32_EXPECTED = `a finite float32 number (|x| <= ${FLOAT32_MAX})`;

/** Refuses a float parameter (when given) that would not stay finite as a float32: it would give NaN results. */
export function checkFloat32(name: string, value: unknown): void {
  if (value !== undefined && !isFloat32(value)) throw InvalidArgumentError.expected(name, FLOAT32_EXPECTED, value);
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return value.length <= 8 ? `[${value.map(describe).join(', ')}]` : `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as unknown as { length: number }).length})`;
  if (typeof value === 'function') return 'a function';
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}

/** Rethrows an error from the native module as the matching typed error. */
export function fromNativeError(err: unknown): Error {
  if (err instanceof SkipditError || !(err instanceof Error)) return err as Error;
  const code = (err as { code?: string }).code;
  switch (code) {
    case 'SKIPDIT_INVALID_ARGUMENT':
      return new InvalidArgumentError(err.message, { cause: err });
    case 'SKIPDIT_CHECKPOINT':
      return new CheckpointError(err.message, { cause: err });
    case 'SKIPDIT_BACKEND_UNAVAILABLE':
      return new BackendUnavailableError(err.message, { cause: err });
    case 'SKIPDIT_DISPOSED':
      return new DisposedError(err.message.replace(/ has been disposed$/, '') || 'The model');
    case 'SKIPDIT_ABORTED':
      return new AbortError(err.message, { cause: err });
    case 'SKIPDIT_INTERNAL':
      return new InternalError(err.message, { cause: err });
    default:
      return err;
  }
}
