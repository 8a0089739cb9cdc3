// Downloads from the Hugging Face Hub into the cache huggingface_hub shares (see hub.ts, transfer.ts, cache.ts).
export { downloadSnapshot, selectFolderFiles, checkRepo, checkRepoPath } from './hub.js';
export type { FileRule, FolderRule, SnapshotRequest, Snapshot, SnapshotFile } from './hub.js';
export { isHfUri, parseHfUri, resolveHfUri, localPath } from './uri.js';
export type { HfUri, HfFolderKind } from './uri.js';
export { hubSettings, DEFAULT_ENDPOINT } from './settings.js';
export type { HubOptions, HubSettings, DownloadProgress } from './settings.js';
export { recipes, pull, isRecipeName, convertedPath } from './recipes.js';
export type { Recipe, RecipeName, RecipeParts, PullOptions, PullResult } from './recipes.js';
export type { HubLoadOptions } from './uri.js';
