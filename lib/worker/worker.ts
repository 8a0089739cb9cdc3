// A generation worker on BullMQ: consumes GenerationRequest jobs from a Redis queue, runs them with the Pipeline
// API, reports per-step progress, and writes results. Failure semantics (docs/workers.md):
// - a worker that dies mid-job loses its lock; BullMQ's stalled-job check hands the job to another worker, which
//   runs it from the start with the same seed (the same bits);
// - invalid requests (InvalidArgumentError, CheckpointError, unknown models) fail at once, without retries
//   (UnrecoverableError); anything else is retried with the job's backoff;
// - close() (SIGTERM in the CLI) lets the step in flight finish, puts the job back in the queue, and exits;
// - cancelGeneration() aborts the running Pipeline within one step, or removes a job that has not started.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { bundledModel } from '../bundled.js';
import { AbortError, CheckpointError, HubAuthError, HubNotFoundError, InvalidArgumentError } from '../errors.js';
import { generate, type GenerateFormat } from '../generate.js';
import { findHunyuanLayout, generateHunyuan, isHunyuanPath } from '../generate-hunyuan.js';
import { findT2VLayout, generateVideo, part, type GenerateVideoOptions } from '../generate-t2v.js';
import { loadModel, Model } from '../model.js';
import { writeOutput } from '../output.js';
import { encodeSafetensors } from '../safetensors.js';
import { TextEncoderModel, loadTextEncoder } from '../text-encoder.js';
import { Vae, loadVae } from '../vae.js';
import type { CachePolicyInput } from '../cache.js';
import type { Tensor } from '../tensor.js';
import { cancelKeys, openConnection, type RedisConnection } from './connection.js';
import { ModelCache, type CacheLease } from './model-cache.js';
import { validateGenerationRequest, type GenerationRequest } from './request.js';

export interface GenerationWorkerOptions {
  /** Redis: a redis:// URL, ioredis options or an ioredis client. */
  connection: RedisConnection;
  /** Queue name (default 'skipdit'). */
  queue?: string;
  /** The models a request may name: a folder (a name is a file or folder in it, with or without extension) or a name -> path map. 'bundled' always works. */
  models?: string | Record<string, string>;
  /** Jobs at once (default 1: one generation already uses every core of a CPU or all of a GPU). */
  concurrency?: number;
  /** 'auto' (default), 'cpu', 'cuda', or a CUDA device index (sets CUDA_VISIBLE_DEVICES: before this process first uses CUDA). */
  device?: 'auto' | 'cpu' | 'cuda' | number;
  /** Results as files here (<jobId>.<ext>, written atomically); without it, the bytes travel in the return value. */
  outputDir?: string;
  /** 'file' (default with outputDir) or 'bytes' (base64 in the return value, the default without). */
  result?: 'file' | 'bytes';
  /** Weights kept loaded between jobs, least recently used evicted and disposed (default: a quarter of the memory). */
  maxModelBytes?: number;
  /** Allow hf:// model names (downloaded into the Hugging Face cache; default false). */
  hub?: boolean;
  /** BullMQ's lock and stalled-job check (ms): how soon a dead worker's job goes to another (defaults 30000 / 30000). */
  lockDuration?: number;
  stalledInterval?: number;
  /**
   * Progress reports at most this often (ms; default 100): each is a Redis write and an event every follower reads, so
   * a model that makes hundreds of steps a second would spend its time reporting. Phase changes and the last step
   * are always reported; 0 reports every step.
   */
  progressIntervalMs?: number;
  /** Key prefix (BullMQ's default 'bull'). */
  prefix?: string;
  /** One line per job event, for logs. */
  onEvent?: (event: WorkerEvent) => void;
}

export type WorkerEvent =
  | { type: 'active'; jobId: string; attempt: number }
  | { type: 'completed'; jobId: string; ms: number; samplesSha256: string }
  | { type: 'failed'; jobId: string; error: string; retry: boolean }
  | { type: 'requeued'; jobId: string; step: number }
  /** step: the last step completed; requestedAt: the last step completed when the cancel arrived. */
  | { type: 'cancelled'; jobId: string; step: number; requestedAt?: number };

export interface GenerationProgress {
  phase: 'load' | 'encode' | 'sample' | 'decode' | 'write';
  completed?: number;
  total?: number;
  /** The worker process running it. */
  pid: number;
  host: string;
}

export interface GenerationResult {
  jobId: string;
  model: string;
  output: GenerationRequest['output'];
  seed: number;
  /** Where the result was written (outputDir), or its bytes base64 ('bytes'). */
  file?: string;
  bytes?: string;
  /** sha256 of the output bytes, and of the sampler's float32 output (the bit-identity check across workers). */
  sha256: string;
  samplesSha256: string;
  shape: number[];
  ms: number;
  worker: { pid: number; host: string };
}

/** What a worker keeps loaded: transformers, text encoders, VAEs. */
export type Loaded = Model | TextEncoderModel | Vae;

/** Bytes a loaded part holds: its weights (a VAE: its weights file's size). */
function loadedBytes(v: Loaded): number {
  if (v instanceof Model || v instanceof TextEncoderModel) return v.memory().weightBytes;
  return statSync(v.file, { throwIfNoEntry: false })?.size ?? 0;
}

export interface GenerationWorker {
  readonly worker: Worker;
  readonly models: ModelCache<Loaded>;
  /** Stops taking jobs; a running job finishes its current step and goes back to the queue; then the connections close. */
  close(): Promise<void>;
}

/** generate()'s format of an output kind, which is also the result file's extension. */
const FORMATS: Record<GenerationRequest['output'], GenerateFormat> = { png: 'png', gif: 'gif', mp4: 'mp4', latents: 'safetensors' };

/** The path of a model name: 'bundled', an hf:// path (when allowed), a key of the map, or an entry of the folder. */
export function resolveWorkerModel(models: GenerationWorkerOptions['models'], name: string, hub = false): string {
  if (name === 'bundled') return bundledModel.path();
  if (name.startsWith('hf://')) {
    if (!hub) throw InvalidArgumentError.expected('request.model', 'a model of this worker (it downloads no hf:// paths: start it with hub enabled)', name);
    return name;
  }
  if (typeof models === 'object' && models !== null) {
    if (Object.prototype.hasOwnProperty.call(models, name)) return models[name];
  } else if (typeof models === 'string') {
    const root = realpathSync(models);
    for (const candidate of [name, `${name}.safetensors`, `${name}.pt`, `${name}.pth`]) {
      const p = path.join(root, candidate);
      if (existsSync(p) && path.dirname(realpathSync(p)) === root) return p;
    }
  }
  throw InvalidArgumentError.expected('request.model', "a model of this worker ('bundled', or one in its models folder)", name);
}

/** Whether an error is the request's fault (no retry can help): these fail the job at once. */
export function isPermanentFailure(err: unknown): boolean {
  return err instanceof InvalidArgumentError || err instanceof CheckpointError || err instanceof HubNotFoundError || err instanceof HubAuthError;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** sha256 of a tensor's float32 bytes: the bit-identity check of results across workers and runs. */
export function tensorSha256(t: Tensor): string {
  return sha256(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

/** Job ids become file names: anything but [A-Za-z0-9_-] is replaced by its hash. */
function fileStem(jobId: string): string {
  return /^[A-Za-z0-9_-]{1,128}$/.test(jobId) ? jobId : `job-${sha256(Buffer.from(jobId)).slice(0, 32)}`;
}

export function createGenerationWorker(o: GenerationWorkerOptions): GenerationWorker {
  if (typeof o !== 'object' || o === null) throw InvalidArgumentError.expected('options', 'an object', o);
  const queue = o.queue ?? 'skipdit';
  if (typeof queue !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(queue)) throw InvalidArgumentError.expected('queue', 'a queue name of letters, digits, _ . -', queue);
  const concurrency = o.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw InvalidArgumentError.expected('concurrency', 'an integer in [1, 64]', concurrency);
  const device = o.device ?? 'auto';
  let backend: 'auto' | 'cpu' | 'cuda';
  if (typeof device === 'number') {
    if (!Number.isInteger(device) || device < 0 || device > 255) throw InvalidArgumentError.expected('device', "a CUDA device index, 'auto', 'cpu' or 'cuda'", device);
    process.env.CUDA_VISIBLE_DEVICES = String(device);
    backend = 'cuda';
  } else if (device === 'auto' || device === 'cpu' || device === 'cuda') backend = device;
  else throw InvalidArgumentError.expected('device', "a CUDA device index, 'auto', 'cpu' or 'cuda'", device);
  if (o.models !== undefined && typeof o.models !== 'string' && (typeof o.models !== 'object' || o.models === null)) {
    throw InvalidArgumentError.expected('models', 'a folder or a name -> path map', o.models);
  }
  if (typeof o.models === 'string' && !statSync(o.models, { throwIfNoEntry: false })?.isDirectory()) throw InvalidArgumentError.expected('models', 'an existing folder', o.models);
  const resultMode = o.result ?? (o.outputDir ? 'file' : 'bytes');
  if (resultMode !== 'file' && resultMode !== 'bytes') throw InvalidArgumentError.expected('result', "'file' or 'bytes'", o.result);
  if (resultMode === 'file' && !o.outputDir) throw InvalidArgumentError.expected('outputDir', "a folder (result 'file')", o.outputDir);
  if (o.outputDir) mkdirSync(o.outputDir, { recursive: true });
  const progressIntervalMs = o.progressIntervalMs ?? 100;
  if (!(Number.isFinite(progressIntervalMs) && progressIntervalMs >= 0)) throw InvalidArgumentError.expected('progressIntervalMs', 'a number of ms >= 0', o.progressIntervalMs);
  const maxModelBytes = o.maxModelBytes ?? Math.floor(os.totalmem() / 4);
  if (!(Number.isFinite(maxModelBytes) && maxModelBytes >= 0)) throw InvalidArgumentError.expected('maxModelBytes', 'a number of bytes >= 0', o.maxModelBytes);

  const host = os.hostname();
  const connection = openConnection(o.connection);
  const subscriber = connection.subscriber();
  const keys = cancelKeys(queue, o.prefix);
  const models = new ModelCache<Loaded>(maxModelBytes, loadedBytes);
  const running = new Map<string, (reason: string) => void>(); // job id -> cancel it
  let closing = false;

  // Cancel requests reach every worker; the one running the job aborts it.
  void subscriber.subscribe(keys.channel).catch(() => {});
  subscriber.on('message', (channel: string, jobId: string) => {
    if (channel === keys.channel) running.get(jobId)?.('cancelled by the producer');
  });

  const processor = async (job: Job, token?: string, signal?: AbortSignal): Promise<GenerationResult> => {
    const jobId = String(job.id);
    const started = performance.now();
    o.onEvent?.({ type: 'active', jobId, attempt: job.attemptsMade + 1 });
    const controller = new AbortController();
    let step = 0, shutdown = false, requestedAt: number | undefined;
    let lastPhase = '', lastReport = -Infinity;
    const cancelWith = (reason: string) => {
      requestedAt ??= step;
      controller.abort(new AbortError(reason));
    };
    const cancel = () => cancelWith('cancelled');
    signal?.addEventListener('abort', cancel, { once: true }); // worker.cancelJob()
    running.set(jobId, cancelWith);
    const progress = (p: Omit<GenerationProgress, 'pid' | 'host'>) => {
      if (p.phase === 'sample' && p.completed !== undefined) {
        step = p.completed;
        // close(): the step in flight has finished; stop before the next one (after the last, the job just finishes)
        if (closing && !controller.signal.aborted && (p.total === undefined || p.completed < p.total)) {
          shutdown = true;
          controller.abort(new AbortError('worker shutting down'));
        }
      }
      const now = performance.now();
      const last = p.completed !== undefined && p.completed === p.total;
      if (p.phase === lastPhase && !last && now - lastReport < progressIntervalMs) return;
      lastPhase = p.phase;
      lastReport = now;
      void job.updateProgress({ ...p, pid: process.pid, host } satisfies GenerationProgress).catch(() => {});
    };
    try {
      if (await connection.client.exists(keys.marker(jobId))) throw new AbortError('cancelled before it started');
      const request = validateGenerationRequest(job.data);
      const modelPath = resolveWorkerModel(o.models, request.model, o.hub);
      return await run(request, modelPath, jobId, controller.signal, progress, started);
    } catch (err) {
      if (shutdown) {
        await job.moveToWait(token);
        o.onEvent?.({ type: 'requeued', jobId, step });
        throw new WaitingError();
      }
      if (err instanceof AbortError) {
        o.onEvent?.({ type: 'cancelled', jobId, step, requestedAt });
        throw new UnrecoverableError(`cancelled at step ${step}: ${err.message}`);
      }
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      o.onEvent?.({ type: 'failed', jobId, error: message, retry: !isPermanentFailure(err) });
      if (isPermanentFailure(err)) throw new UnrecoverableError(message);
      throw err;
    } finally {
      signal?.removeEventListener('abort', cancel);
      running.delete(jobId);
    }
  };

  async function run(request: GenerationRequest, modelPath: string, jobId: string, signal: AbortSignal, progress: (p: Omit<GenerationProgress, 'pid' | 'host'>) => void, started: number): Promise<GenerationResult> {
    const ext = FORMATS[request.output];
    const stem = fileStem(jobId);
    const dir = resultMode === 'file' ? o.outputDir! : os.tmpdir();
    const tmp = path.join(dir, `.${stem}.${process.pid}.${randomBytes(6).toString('hex')}.partial.${ext}`);
    const sampling = { sampler: request.sampler, steps: request.steps, cfg: request.cfgScale, cache: (request.cache === 'none' ? false : request.cache) as false | CachePolicyInput | undefined, seed: request.seed ?? 0 };
    let samples: Tensor;
    try {
      if (request.model !== 'bundled' && !request.model.startsWith('hf://') && statSync(modelPath).isDirectory()) {
        // text families: a model folder (its text encoders, tokenizer and VAE beside it), loaded for the job
        if (request.prompt === undefined) throw InvalidArgumentError.expected('request.prompt', `a prompt (${request.model} is a text-to-image / text-to-video model)`, undefined);
        // 'latents': the pictures go to a file thrown away, the samples to the result
        const hunyuan = await isHunyuanPath(modelPath);
        const pictures = request.output === 'latents' ? `${tmp}.discard.${request.frames === 1 || hunyuan ? 'png' : 'gif'}` : tmp;
        const text = { prompts: [request.prompt], negativePrompt: request.negativePrompt, steps: sampling.steps, cfg: sampling.cfg, cache: sampling.cache, seed: sampling.seed, out: pictures, signal };
        try {
          if (hunyuan) {
            samples = await textToImage(request, modelPath, text, progress);
          } else {
            samples = await textToVideo(request, modelPath, text, progress);
          }
          if (request.output === 'latents') writeOutput(tmp, encodeSafetensors({ samples }, { format: 'skipdit-latents', model: request.model, seed: String(sampling.seed) }));
        } finally {
          if (pictures !== tmp) rmSync(pictures, { force: true, recursive: true });
        }
      } else {
        if (request.prompt !== undefined) throw InvalidArgumentError.expected('request.labels', `class labels (${request.model} is class-conditioned), not a prompt`, 'a prompt');
        progress({ phase: 'load' });
        const lease = await models.acquire(modelPath, () => loadModel(modelPath, { backend, signal }));
        try {
          const r = await generate({
            model: lease.value as Model, classes: request.labels, frames: request.frames, ...sampling, format: FORMATS[request.output] as 'png', out: tmp, signal,
            onProgress: (p) => {
              if (p.phase === 'sample' || p.phase === 'decode') progress({ phase: p.phase, completed: p.completed, total: p.total });
            },
          });
          samples = r.samples;
        } finally {
          lease.release();
        }
      }
      const bytes = readFileSync(tmp);
      let file: string | undefined;
      if (resultMode === 'file') {
        file = path.join(o.outputDir!, `${stem}.${ext}`);
        renameSync(tmp, file); // atomic: a reader never sees half a result
      }
      const result: GenerationResult = {
        jobId, model: request.model, output: request.output, seed: sampling.seed, file, bytes: resultMode === 'bytes' ? bytes.toString('base64') : undefined,
        sha256: sha256(bytes), samplesSha256: tensorSha256(samples), shape: [...samples.shape], ms: performance.now() - started, worker: { pid: process.pid, host },
      };
      if (!result.file) delete result.file;
      if (!result.bytes) delete result.bytes;
      o.onEvent?.({ type: 'completed', jobId, ms: result.ms, samplesSha256: result.samplesSha256 });
      return result;
    } finally {
      rmSync(tmp, { force: true, recursive: true });
    }
  }

  // (options left out, not undefined: BullMQ takes an undefined as a value)
  /**
   * Latte text-to-video from a Latte-1 style folder: the transformer, T5 and the temporal VAE come from the model cache
   * (loaded once per worker), the tokenizer and the scheduler options from the folder.
   */
  async function textToVideo(request: GenerationRequest, folder: string, text: Omit<GenerateVideoOptions, 'model'>, progress: (p: Omit<GenerationProgress, 'pid' | 'host'>) => void): Promise<Tensor> {
    if (request.sampler !== undefined && request.sampler !== 'ddim') throw InvalidArgumentError.expected('request.sampler', "'ddim' (Latte text-to-video samples with DDIM)", request.sampler);
    const layout = findT2VLayout(folder, 'request.model');
    const encoderDir = part(undefined, layout.textEncoder, 'request.model', 'the T5 text encoder folder');
    const vaeDir = part(undefined, layout.vae, 'request.model', 'the vae_temporal_decoder folder');
    progress({ phase: 'load' });
    const numFrames = request.frames === undefined || request.frames === 1 ? 16 : request.frames;
    const { lease, release } = leaseSet();
    try {
      const model = await lease(`t2v ${layout.checkpoint} frames ${numFrames}`, () => loadModel(layout.checkpoint, { config: { num_frames: numFrames, ...layout.transformerConfig }, backend, signal: text.signal }));
      const textEncoder = await lease(`t5 ${encoderDir} ${model.backend}`, () => loadTextEncoder(encoderDir, { backend: model.backend, signal: text.signal }));
      const vae = await lease(`vae ${vaeDir}`, () => loadVae(vaeDir, { signal: text.signal }));
      const r = await generateVideo({
        ...text, model, textEncoder, vae, tokenizer: layout.tokenizer, frames: request.frames,
        timestepSpacing: layout.scheduler.timestepSpacing, stepsOffset: layout.scheduler.stepsOffset, setAlphaToOne: layout.scheduler.setAlphaToOne,
        format: request.output === 'latents' ? undefined : request.output,
        onProgress: (p) => progress({ phase: p.phase, completed: 'completed' in p ? p.completed : undefined, total: 'total' in p ? p.total : undefined }),
      });
      return r.samples;
    } finally {
      release();
    }
  }

  /** Hunyuan-DiT from a HunyuanDiT-v1.2 folder: the transformer, BERT, mT5 and the VAE from the model cache. */
  async function textToImage(request: GenerationRequest, folder: string, text: Omit<GenerateVideoOptions, 'model'>, progress: (p: Omit<GenerationProgress, 'pid' | 'host'>) => void): Promise<Tensor> {
    if (request.output !== 'png' && request.output !== 'latents') throw InvalidArgumentError.expected('request.output', "'png' or 'latents' for Hunyuan-DiT", request.output);
    const layout = findHunyuanLayout(folder);
    const bertDir = part(undefined, layout.bert, 'request.model', 'the t2i/clip_text_encoder folder');
    const mt5Dir = part(undefined, layout.mt5, 'request.model', 'the t2i/mt5 folder');
    const vaeDir = part(undefined, layout.vae, 'request.model', 'the t2i/sdxl-vae-fp16-fix folder');
    progress({ phase: 'load' });
    const { lease, release } = leaseSet();
    try {
      const model = await lease(`hunyuan ${layout.checkpoint}`, () => loadModel(layout.checkpoint, { backend, signal: text.signal }));
      const bert = await lease(`bert ${bertDir} ${model.backend}`, () => loadTextEncoder(bertDir, { backend: model.backend, signal: text.signal }));
      const mt5 = await lease(`mt5 ${mt5Dir} ${model.backend}`, () => loadTextEncoder(mt5Dir, { backend: model.backend, signal: text.signal }));
      const vae = await lease(`vae ${vaeDir}`, () => loadVae(vaeDir, { signal: text.signal }));
      const r = await generateHunyuan({
        prompts: text.prompts, negativePrompt: text.negativePrompt, steps: text.steps, cfg: text.cfg, cache: text.cache, seed: text.seed, out: text.out, signal: text.signal,
        model, bert, mt5, bertTokenizer: layout.bertTokenizer, vae, sampler: request.sampler, size: request.size,
        onProgress: (p) => progress({ phase: p.phase, completed: p.completed, total: p.total }),
      });
      return r.samples;
    } finally {
      release();
    }
  }

  /** Leases from the model cache for one job, released together. */
  function leaseSet() {
    const leases: CacheLease<Loaded>[] = [];
    return {
      lease: async <T extends Loaded>(key: string, load: () => Promise<T>): Promise<T> => {
        const l = await models.acquire(key, load);
        leases.push(l);
        return l.value as T;
      },
      release: () => leases.splice(0).forEach((l) => l.release()),
    };
  }

  const worker = new Worker(queue, processor, {
    connection: connection.client, concurrency, autorun: true,
    ...(o.prefix !== undefined && { prefix: o.prefix }),
    ...(o.lockDuration !== undefined && { lockDuration: o.lockDuration }),
    ...(o.stalledInterval !== undefined && { stalledInterval: o.stalledInterval }),
  });
  worker.on('error', () => {}); // connection errors: ioredis reconnects, BullMQ resumes

  return {
    worker,
    models,
    async close() {
      if (closing) return;
      closing = true;
      // a job still loading (no step yet) stops at its first step; one past sampling finishes
      await worker.close();
      await models.close();
      await connection.close(); // the subscriber too
    },
  };
}
