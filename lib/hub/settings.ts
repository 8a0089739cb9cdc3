// Where downloads come from and go to, read as Python's huggingface_hub reads them (constants.py), so both
// share one cache: options first, then HF_ENDPOINT, HF_TOKEN (then $HF_TOKEN_PATH or $HF_HOME/token),
// HF_HUB_CACHE (then $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub), HF_HUB_OFFLINE.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getHFHubCachePath } from '@huggingface/hub';
import { InvalidArgumentError } from '../errors.js';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** How a download reaches the Hub; every field defaults to the environment, as huggingface_hub's. */
export interface HubOptions {
  /** A branch, tag or 40-hex commit (default 'main'). A commit pins the files: nothing is asked of the Hub once cached. */
  revision?: string;
  /** The Hub's URL (default HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
  /** An access token ('hf_...') for gated and private repositories (default HF_TOKEN, else the token file); false: none. */
  token?: string | false;
  /** The cache folder (default HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Never touch the network: use the cache or fail with HubOfflineError (default HF_HUB_OFFLINE). */
  offline?: boolean;
  /** Stops the download between chunks (AbortError); the partial file is kept for the next pull. */
  signal?: AbortSignal;
  /** Bytes of each file as they arrive (at most every 100 ms per file, and once when it is complete). */
  onProgress?: (event: DownloadProgress) => void;
  /** Tries per file after a dropped connection, a stall or a 5xx (each resumes where the last stopped; default 5). */
  retries?: number;
  /** Milliseconds without a byte after which a transfer counts as stalled and is retried (default 60 000). */
  stallTimeoutMs?: number;
}

export interface DownloadProgress {
  phase: 'download';
  repo: string;
  file: string;
  /** Bytes on disk so far, including those of a resumed partial file. */
  completed: number;
  total: number;
  /** Bytes that were already on disk from an earlier, interrupted download. */
  resumedFrom: number;
  done: boolean;
}

/** HubOptions with the environment applied. */
export interface HubSettings {
  endpoint: string;
  token: string | undefined;
  cacheDir: string;
  offline: boolean;
  retries: number;
  stallTimeoutMs: number;
}

/** huggingface_hub's _is_true: 1, ON, YES, TRUE in any case. */
export function envFlag(value: string | undefined): boolean {
  return value !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(value.trim().toUpperCase());
}

function hfHome(): string {
  return process.env.HF_HOME ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'huggingface');
}

/** HF_TOKEN, the legacy HUGGING_FACE_HUB_TOKEN, then the file `huggingface-cli login` writes. */
function envToken(): string | undefined {
  const fromEnv = process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  if (fromEnv !== undefined) return fromEnv.trim() || undefined;
  try {
    return readFileSync(process.env.HF_TOKEN_PATH ?? path.join(hfHome(), 'token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function hubSettings(options: HubOptions = {}): HubSettings {
  if (typeof options !== 'object' || options === null) throw InvalidArgumentError.expected('options', 'an object', options);
  const str = (name: keyof HubOptions) => {
    const v = options[name];
    if (v !== undefined && (typeof v !== 'string' || v.length === 0)) throw InvalidArgumentError.expected(`options.${name}`, 'a non-empty string', v);
    return v as string | undefined;
  };
  const endpoint = (str('endpoint') ?? process.env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(endpoint)) throw InvalidArgumentError.expected('options.endpoint (or HF_ENDPOINT)', 'an http(s) URL', endpoint);
  if (options.token !== undefined && options.token !== false && !(typeof options.token === 'string' && options.token.startsWith('hf_'))) {
    throw InvalidArgumentError.expected('options.token', "a Hugging Face access token ('hf_...') or false", options.token);
  }
  const token = options.token === false ? undefined : (options.token ?? envToken());
  if (token !== undefined && !token.startsWith('hf_')) throw InvalidArgumentError.expected('HF_TOKEN', "a Hugging Face access token ('hf_...')", token);
  const cacheDir = path.resolve(str('cacheDir') ?? getHFHubCachePath());
  if (options.offline !== undefined && typeof options.offline !== 'boolean') throw InvalidArgumentError.expected('options.offline', 'a boolean', options.offline);
  const count = (name: 'retries' | 'stallTimeoutMs', min: number, fallback: number) => {
    const v = options[name];
    if (v !== undefined && (!Number.isInteger(v) || v < min)) throw InvalidArgumentError.expected(`options.${name}`, `an integer >= ${min}`, v);
    return v ?? fallback;
  };
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw InvalidArgumentError.expected('options.onProgress', 'a function', options.onProgress);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw InvalidArgumentError.expected('options.signal', 'an AbortSignal', options.signal);
  str('revision');
  return {
    endpoint,
    token,
    cacheDir,
    offline: options.offline ?? (envFlag(process.env.HF_HUB_OFFLINE) || envFlag(process.env.TRANSFORMERS_OFFLINE)),
    retries: count('retries', 0, 5),
    stallTimeoutMs: count('stallTimeoutMs', 1, 60_000),
  };
}
