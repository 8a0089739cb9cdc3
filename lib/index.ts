// skipdit: Skip-DiT diffusion transformers for Node.
export { loadModel, backends, Model } from './model.js';
export type { BackendName, BackendInfo, LoadModelOptions, ForwardInput, CfgInput, ForwardOptions, ForwardResult } from './model.js';
export { presets, normalizeConfig, resolveConfig } from './config.js';
export type { ModelConfig, ModelFamily, PresetName } from './config.js';
export type { Tensor } from './tensor.js';
export {
  SkipditError,
  InvalidArgumentError,
  CheckpointError,
  BackendUnavailableError,
  DisposedError,
  AbortError,
  InternalError,
} from './errors.js';
