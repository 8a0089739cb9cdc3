// `skipdit worker` and `skipdit enqueue`: the BullMQ queue from the command line. bullmq and ioredis are optional
// peer dependencies, imported only when these commands run.
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { InvalidArgumentError } from './errors.js';
import { checkOutputPath, writeOutput } from './output.js';
import type { GenerationRequest, GenerationResult, WorkerEvent } from './worker/index.js';

async function queueModules() {
  try {
    const [bullmq, worker] = await Promise.all([import('bullmq'), import('./worker/index.js')]);
    return { bullmq, worker };
  } catch (err) {
    throw new InvalidArgumentError('skipdit worker / enqueue need the optional dependencies bullmq and ioredis: npm install bullmq ioredis', { cause: err });
  }
}

interface WorkerArgs {
  redis: string;
  queue: string;
  models?: string;
  concurrency: number;
  device: string;
  outputDir?: string;
  result?: 'file' | 'bytes';
  maxModelBytes?: number;
  hub?: boolean;
  lockDuration?: number;
  stalledInterval?: number;
  progressInterval?: number;
  threads?: number;
  json?: boolean;
}

async function workerCommand(opts: WorkerArgs): Promise<void> {
  const device = /^\d+$/.test(opts.device) ? Number(opts.device) : opts.device; // a number: createGenerationWorker sets CUDA_VISIBLE_DEVICES
  // several CPU workers on one machine: split the cores (read when the CPU thread pool starts, at the first model)
  if (opts.threads !== undefined) process.env.SKIPDIT_NUM_THREADS = String(opts.threads);
  const { worker } = await queueModules();
  const log = (e: WorkerEvent | { type: 'ready' | 'closed'; [k: string]: unknown }) => {
    if (opts.json) console.log(JSON.stringify({ ...e, pid: process.pid, time: Date.now() }));
    else console.error(`[worker ${process.pid}] ${e.type} ${Object.entries(e).filter(([k]) => k !== 'type').map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 10) / 10 : v}`).join(' ')}`);
  };
  const w = worker.createGenerationWorker({
    connection: opts.redis, queue: opts.queue, models: opts.models, concurrency: opts.concurrency, device: device as 'auto',
    outputDir: opts.outputDir, result: opts.result, maxModelBytes: opts.maxModelBytes, hub: opts.hub,
    lockDuration: opts.lockDuration, stalledInterval: opts.stalledInterval, progressIntervalMs: opts.progressInterval, onEvent: log,
  });
  await w.worker.waitUntilReady();
  log({ type: 'ready', queue: opts.queue, device: opts.device });
  // SIGTERM / SIGINT: finish the step in flight, put the job back, exit 0; a second signal exits at once
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(143);
    stopping = true;
    void w.close().then(() => {
      log({ type: 'closed' });
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await new Promise(() => {}); // runs until a signal
}

interface EnqueueArgs {
  redis: string;
  queue: string;
  model: string;
  class?: number[];
  prompt?: string;
  negativePrompt?: string;
  sampler?: GenerationRequest['sampler'];
  steps?: number;
  cfg?: number;
  cache?: string;
  seed?: number;
  size?: string;
  frames?: number;
  output: GenerationRequest['output'];
  out?: string;
  wait: boolean;
  json?: boolean;
}

async function enqueueCommand(opts: EnqueueArgs): Promise<void> {
  const { bullmq, worker } = await queueModules();
  const request: GenerationRequest = {
    model: opts.model, labels: opts.class, prompt: opts.prompt, negativePrompt: opts.negativePrompt, sampler: opts.sampler, steps: opts.steps,
    cfgScale: opts.cfg, cache: opts.cache, seed: opts.seed, frames: opts.frames, output: opts.output,
    size: opts.size ? (opts.size.split('x').map(Number) as [number, number]) : undefined,
  };
  if (opts.out) checkOutputPath(opts.out, 'file', '--out'); // before the job, not after it ran
  const conn = worker.openConnection(opts.redis, '--redis');
  const queue = new bullmq.Queue(opts.queue, { connection: conn.client });
  const events = new bullmq.QueueEvents(opts.queue, { connection: conn.subscriber() });
  try {
    await events.waitUntilReady();
    const enqueued = performance.now();
    const job = await worker.enqueueGeneration(queue, request);
    if (!opts.wait) {
      console.log(opts.json ? JSON.stringify({ jobId: job.id }) : `enqueued job ${job.id} on ${opts.queue}`);
      return;
    }
    const bar = opts.json ? undefined : new cliProgress.SingleBar({ format: `job ${job.id} [{bar}] {value}/{total} steps | {phase} | worker {pid} | {duration_formatted}`, hideCursor: true }, cliProgress.Presets.shades_classic);
    bar?.start(1, 0, { phase: 'queued', pid: '-' });
    // Ctrl-C cancels the job (a second one exits at once)
    let interrupted = false;
    process.on('SIGINT', () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      void worker.cancelGeneration(queue, String(job.id));
    });
    let result: GenerationResult;
    try {
      result = await worker.followGeneration(job, events, {
        onProgress: (p) => {
          if (p.total) bar?.setTotal(p.total);
          bar?.update(p.completed ?? 0, { phase: p.phase, pid: p.pid });
        },
      });
    } catch (err) {
      throw new InvalidArgumentError(`job ${job.id} failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      bar?.stop();
    }
    // a write that fails is an OutputError, not a failed job
    if (opts.out && result.bytes) writeOutput(opts.out, Buffer.from(result.bytes, 'base64'));
    const { bytes: _bytes, ...shown } = result;
    if (opts.json) console.log(JSON.stringify({ ...shown, out: opts.out, roundTripMs: performance.now() - enqueued }));
    else console.log(`job ${job.id}: ${result.output} ${result.file ?? opts.out ?? '(bytes in the result)'} in ${(result.ms / 1000).toFixed(2)} s on worker ${result.worker.pid}@${result.worker.host}; samples sha256 ${result.samplesSha256.slice(0, 16)}`);
  } finally {
    await events.close();
    await queue.close();
    await conn.close();
  }
}

type Parse = (name: string) => (value: string) => number;

export function registerQueueCommands(program: Command, integer: Parse, number: Parse): void {
  program
    .command('worker')
    .description('a generation worker on a BullMQ queue in Redis (needs bullmq and ioredis): runs jobs from `skipdit enqueue` / enqueueGeneration(); SIGTERM finishes the step in flight and puts the job back')
    .option('--redis <url>', 'Redis URL', 'redis://127.0.0.1:6379')
    .option('--queue <name>', 'queue name', 'skipdit')
    .option('--models <dir>', "folder of the models a job may name (a file or folder in it; 'bundled' always works)")
    .option('--concurrency <n>', 'jobs at once', integer('--concurrency'), 1)
    .option('--device <n>', "CUDA device index (one worker process per GPU), or 'auto', 'cpu', 'cuda'", 'auto')
    .option('--output-dir <dir>', 'write results here as <jobId>.<ext> (default: bytes in the job result)')
    .option('--result <mode>', "'file' (default with --output-dir) or 'bytes'")
    .option('--max-model-bytes <n>', 'weights kept loaded between jobs (LRU; default a quarter of the memory)', integer('--max-model-bytes'))
    .option('--hub', 'allow hf:// model names (downloads into the Hugging Face cache)')
    .option('--lock-duration <ms>', 'job lock: how long a dead worker holds a job before another takes it', integer('--lock-duration'))
    .option('--stalled-interval <ms>', 'how often stalled jobs are checked', integer('--stalled-interval'))
    .option('--progress-interval <ms>', 'progress reports at most this often (0: every step)', integer('--progress-interval'), 100)
    .option('--threads <n>', 'CPU threads of this process (SKIPDIT_NUM_THREADS; default all cores: give each of several CPU workers its share)', integer('--threads'))
    .option('--json', 'one JSON line per job event on stdout')
    .action((opts: WorkerArgs) => workerCommand(opts));

  program
    .command('enqueue')
    .description('add a generation job to a BullMQ queue and follow it with a progress bar (needs bullmq and ioredis)')
    .option('--redis <url>', 'Redis URL', 'redis://127.0.0.1:6379')
    .option('--queue <name>', 'queue name', 'skipdit')
    .option('--model <name>', "a model of the workers ('bundled', a name in their --models folder, hf:// with --hub)", 'bundled')
    .option('--class <label...>', 'class labels (class-conditioned models)', (v: string, prev: number[] = []) => [...prev, integer('--class')(v)])
    .option('--prompt <text>', 'prompt (text models)')
    .option('--negative-prompt <text>', 'negative prompt')
    .option('--sampler <name>', "'ddim', 'ddpm' or 'dpmsolver++'")
    .option('--steps <n>', 'sampling steps', integer('--steps'))
    .option('--cfg <scale>', 'guidance scale', number('--cfg'))
    .option('--cache <policy>', "Skip-Cache preset ('dit:2', 'dit:auto:0.06', 'none')")
    .option('--seed <n>', 'seed', integer('--seed'))
    .option('--size <HxW>', 'Hunyuan-DiT picture size, e.g. 1024x1024')
    .option('--frames <n>', 'Latte frames', integer('--frames'))
    .option('--output <kind>', "'png', 'gif', 'mp4' or 'latents'", 'png')
    .option('--out <file>', 'write the result bytes here (workers without --output-dir)')
    .option('--no-wait', 'print the job id and return')
    .option('--json', 'print the result as JSON')
    .action((opts: EnqueueArgs) => enqueueCommand(opts));
}
