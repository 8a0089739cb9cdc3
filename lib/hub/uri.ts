// hf://<org>/<name>[@<revision>]/<path> (the form of huggingface_hub's HfFileSystem): a file, or a folder, of a
// Hub repository, fetched into the cache on first use and returned as its local snapshot path.
import { HubNetworkError, HubNotFoundError, HubOfflineError, InvalidArgumentError } from '../errors.js';
import { checkRepo, checkRepoPath, downloadSnapshot, type Snapshot } from './hub.js';
import type { HubOptions } from './settings.js';

export interface HfUri {
  repo: string;
  revision?: string;
  /** The path in the repository ('' for its root folder). */
  path: string;
}

export function isHfUri(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith('hf://');
}

export function parseHfUri(uri: string, name = 'path'): HfUri {
  const m = /^hf:\/\/([^/@]+\/[^/@]+)(?:@([^/]+))?(?:\/(.*))?$/.exec(uri);
  if (!m) throw InvalidArgumentError.expected(name, "'hf://<org>/<name>[@<revision>][/<path>]'", uri);
  const [, repo, revision, p = ''] = m;
  checkRepo(repo, name);
  const path = p.replace(/\/+$/, '');
  if (path) checkRepoPath(path, name);
  return { repo, revision: revision === undefined ? undefined : decodeURIComponent(revision), path };
}

/** What a loader reads at an hf:// path when it is a folder: weights (a model, a VAE, a text encoder) or not (a tokenizer). */
export interface HfFolderKind {
  weights: boolean;
}

/**
 * The local path of an hf:// URI, downloading it unless cached (see downloadSnapshot). A path that is not a file of
 * the repository is taken as a folder: its configs, tokenizer files and weights in one format (FolderRule).
 */
export async function resolveHfUri(uri: string, kind: HfFolderKind, options: HubOptions = {}, name = 'path'): Promise<{ local: string; snapshot: Snapshot }> {
  const parsed = parseHfUri(uri, name);
  if (parsed.revision !== undefined && options.revision !== undefined && parsed.revision !== options.revision) {
    throw InvalidArgumentError.expected('options.revision', `the revision of ${uri} (${parsed.revision}) or none`, options.revision);
  }
  const o = { ...options, revision: parsed.revision ?? options.revision };
  let asFile: unknown;
  if (parsed.path) {
    try {
      const snapshot = await downloadSnapshot({ repo: parsed.repo, files: [parsed.path] }, o);
      return { local: snapshot.files[0].local, snapshot };
    } catch (err) {
      // Not a file of the repository (or, offline or with the Hub unreachable, not a cached file): a folder, then.
      const unreachable = err instanceof HubNetworkError && err.status === undefined;
      if (!(err instanceof HubNotFoundError && err.missing === 'file') && !(err instanceof HubOfflineError) && !unreachable) throw err;
      asFile = err;
    }
  }
  try {
    const snapshot = await downloadSnapshot({ repo: parsed.repo, folders: [{ folder: parsed.path, weights: kind.weights }] }, o);
    return { local: snapshot.dir + (parsed.path ? `/${parsed.path}` : ''), snapshot };
  } catch (err) {
    // neither a cached file nor a cached folder: the file attempt's error says why (offline, or the Hub unreachable)
    throw (asFile instanceof HubOfflineError && err instanceof HubOfflineError) || (asFile instanceof HubNetworkError && err instanceof HubNetworkError) ? asFile : err;
  }
}

/** The options of a loader (loadModel, loadVae, loadTextEncoder, loadTokenizer) for an hf:// path. */
export interface HubLoadOptions {
  /** For an hf:// path: a branch, tag or commit (a commit pins the files); also written hf://org/name@<revision>/... */
  revision?: string;
  /** For an hf:// path: the endpoint, token, cache folder, offline mode and download progress (default: the environment's). */
  hub?: HubOptions;
}

/** A loader's path argument: an hf:// URI becomes its local path; anything else is returned as it is. */
export async function localPath(p: string, kind: HfFolderKind, options: HubLoadOptions & { signal?: AbortSignal }, name = 'path'): Promise<string> {
  if (!isHfUri(p)) {
    if (options.revision !== undefined) throw InvalidArgumentError.expected('options.revision', 'no revision for a local path (only for hf:// paths)', options.revision);
    return p;
  }
  return (await resolveHfUri(p, kind, { signal: options.signal, ...options.hub, revision: options.revision ?? options.hub?.revision }, name)).local;
}
