// skipdit: Skip-DiT diffusion transformers for Node.
export { loadModel, backends, Model } from './model.js';
export { autoBackend, runSelfTest, SELF_TEST_TOLERANCE } from './backends.js';
export type { AutoChoice, SelfTestReport, SelfTestCheck } from './backends.js';
export type {
  BackendName, BackendInfo, LoadModelOptions, ModelProfile, ModelDType, ForwardInput, CfgInput, ForwardOptions, ForwardResult,
  SampleStepInput, SampleStepOptions, StepReport,
} from './model.js';
export { Latents } from './latents.js';
export type { LoadProgress, DecodeProgress } from './progress.js';
export { presets, normalizeConfig, resolveConfig, inferConfig, headsByHiddenSize } from './config.js';
export { inspectCheckpoint, convertCheckpoint } from './checkpoint.js';
export type { CheckpointInfo } from './checkpoint.js';
export { inspectWeights, readConfigJson, MAX_CONFIG_BYTES } from './weights-folder.js';
export type { WeightFolderOptions, WeightFolderInfo, WeightFolderTensor } from './weights-folder.js';
export type { ModelConfig, ModelConfigInput, ModelFamily, PresetName, InferredConfig } from './config.js';
export type { Tensor } from './tensor.js';
export { generate } from './generate.js';
export type {
  GenerateOptions, GenerateProgress, GenerateResult, GenerateFormat, PictureFormat, ImagesResult, LatentsResult, ImagesReport, LatentsReport,
} from './generate.js';
export { generateVideo, findT2VLayout, videoFrames } from './generate-t2v.js';
export type { GenerateVideoOptions, VideoProgress, VideoReport, VideoResult, VideoFormat, T2VLayout, TextRunTimings } from './generate-t2v.js';
export { officialTextStates, encodeT2VPrompts, T2V_MAX_LENGTH } from './t2v-text.js';
export { generateHunyuan, findHunyuanLayout, isHunyuanPath } from './generate-hunyuan.js';
export type { GenerateHunyuanOptions, HunyuanReport, HunyuanLayout } from './generate-hunyuan.js';
export { HUNYUAN_NEGATIVE_PROMPT, hunyuanTextRows, encodeHunyuanPrompts } from './hunyuan-text.js';
export type { HunyuanPromptStates, HunyuanTextEncoders, HunyuanTextSizes } from './hunyuan-text.js';
export type { PromptStates } from './t2v-text.js';
export { Pipeline } from './pipeline.js';
export type { PipelineOptions, InitOptions, StepInfo, RunOptions, PipelineCacheStats } from './pipeline.js';
export { SkipCache, cachePresets, resolveCachePolicy } from './cache.js';
export type { CachePolicy, CachePolicyInput, CachePresetName, CacheStats } from './cache.js';
export { DDIMSampler, DDPMSampler, createSampler } from './samplers.js';
export type { Sampler, SamplerName, SamplerStepResult, VarianceType, SamplerCoefficients, DDIMCoefficients, DDPMCoefficients } from './samplers.js';
export { DiffusersDDIMScheduler, DiffusersDDPMScheduler, diffusersBetas, diffusersTimesteps, linspaceFloat32 } from './schedulers.js';
export type {
  BetaSchedule, DiffusersDDIMConfig, DiffusersDDIMCoefficients, DiffusersDDIMStepResult, DiffusersDDPMConfig, DiffusersDDPMCoefficients,
  DiffusersDDPMStepResult, PredictionType, TimestepSpacing,
} from './schedulers.js';
export { createDiffusion, spaceTimesteps } from './diffusion.js';
export type { DiffusionTables } from './diffusion.js';
export { gaussianNoise, NoiseGenerator } from './random.js';
export { forwardFlops, callFlops } from './flops.js';
export { describeModel } from './architecture.js';
export type { ModelDescription } from './architecture.js';
export { imageGrid, encodePng, writePng, toByte, mapByte, toImages } from './image.js';
export type { Image, ByteMapping } from './image.js';
export { loadVae, Vae, sdVaeConfig, svdTemporalVaeConfig, videoToUint8, TEMPORAL_VAE_CLASS } from './vae.js';
export type { VaeConfig, LoadVaeOptions, DecodeOptions, DecodeVideoOptions } from './vae.js';
export { bundledModel } from './bundled.js';
export { loadTextEncoder, TextEncoderModel, parseTextEncoderConfig } from './text-encoder.js';
export type {
  TextEncoderConfig, T5EncoderConfig, BertEncoderConfig, LoadTextEncoderOptions, TextEncoderInput, TextForwardOptions, TextEncoderOutput,
  TextTokenizer, EncodeTextOptions, EncodedText, IdsTensor,
} from './text-encoder.js';
export { cleanCaption } from './caption.js';
export { loadTokenizer, T5Tokenizer, BertTokenizer } from './tokenizer/index.js';
export type {
  Tokenizer, TokenizerKind, LoadTokenizerOptions, TokenizerEncoding, IntTensor, TokenizerEncodeOptions, TokenizerDecodeOptions, TokenizerPadding,
} from './tokenizer/index.js';
export {
  SkipditError,
  InvalidArgumentError,
  CheckpointError,
  BackendUnavailableError,
  DisposedError,
  AbortError,
  InternalError,
  OutputError,
  HubError,
  HubNotFoundError,
  HubAuthError,
  HubOfflineError,
  HubNetworkError,
  HubIntegrityError,
  HubStorageError,
} from './errors.js';
export { downloadSnapshot, isHfUri, parseHfUri, resolveHfUri, selectFolderFiles, recipes, pull, isRecipeName, convertedPath } from './hub/index.js';
export type {
  HubOptions, HubLoadOptions, DownloadProgress, FileRule, FolderRule, SnapshotRequest, Snapshot, SnapshotFile, HfUri, Recipe, RecipeName, RecipeParts, PullOptions, PullResult,
} from './hub/index.js';
