// The small class-conditional Skip-DiT shipped in the package (trained by tools/train-digits/train.py on MNIST
// digits, pixel space 28x28): `skipdit generate` uses it when no model is given.
import path from 'node:path';
import { packageRoot } from './native.js';

export const bundledModel = {
  name: 'digits-skipdit',
  /** Recommended sampling settings for it. */
  defaults: { sampler: 'ddim' as const, steps: 50, cfgScale: 3 },
  path(): string {
    return path.join(packageRoot(), 'models', 'digits-skipdit.safetensors');
  },
};
