// skipdit/queue: generation workers and producers on BullMQ and Redis (bullmq and ioredis are optional peer
// dependencies: install them to use this subpath). docs/workers.md.
export { createGenerationWorker, resolveWorkerModel, isPermanentFailure, tensorSha256 } from './worker.js';
export type { GenerationWorker, GenerationWorkerOptions, GenerationProgress, GenerationResult, WorkerEvent, Loaded } from './worker.js';
export { enqueueGeneration, followGeneration, cancelGeneration, DEFAULT_JOB_OPTIONS } from './producer.js';
export type { FollowOptions } from './producer.js';
export { validateGenerationRequest, checkModelName, REQUEST_LIMITS } from './request.js';
export type { GenerationRequest, GenerationOutput, GenerationSampler } from './request.js';
export { ModelCache } from './model-cache.js';
export type { CacheLease } from './model-cache.js';
export { openConnection, cancelKeys } from './connection.js';
export type { RedisConnection } from './connection.js';
