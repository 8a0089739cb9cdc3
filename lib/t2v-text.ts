// The text states of a text-to-video run as the official LattePipeline.encode_prompt builds them (Skip-DiT
// text-to-video/sample/pipeline_latte.py, mask_feature=True): T5 at max_length 120 with the tokenizer's mask, then
//  - one prompt: keep = mask.sum() (its real tokens incl. </s>); the prompt's states AND the negative prompt's are
//    cut to their first `keep` rows (the negative's rows past its own tokens are T5 outputs at padding, used as they
//    are);
//  - several prompts: the prompt states are multiplied by their masks and all rows are kept; the negative states are
//    kept whole.
// The transformer never gets a mask: the truncation is the only masking. The CFG batch is [uncond, cond].
import { InvalidArgumentError } from './errors.js';
import { checkTensor, type Tensor } from './tensor.js';
import type { TextEncoderModel, TextTokenizer } from './text-encoder.js';

/** The T5 token length of the official pipeline (hard-coded there). */
export const T2V_MAX_LENGTH = 120;

/** The text states of one prompt: (L, D) or (1, L, D) float32, and optionally the tokenizer's mask (L) or (1, L). */
export interface PromptStates {
  states: Tensor;
  mask?: Tensor | { data: ArrayLike<number | bigint>; shape: number[] };
}

/** One prompt's states as (L, D) with its 0/1 mask of L values (all ones when none was given). */
function normalizePrompt(p: PromptStates, where: string, width: number): { data: Float32Array; L: number; mask: Float32Array } {
  if (typeof p !== 'object' || p === null) throw InvalidArgumentError.expected(where, '{ states, mask? }', p);
  const s = checkTensor(p.states, `${where}.states`);
  const shape = s.shape.length === 3 && s.shape[0] === 1 ? s.shape.slice(1) : s.shape;
  if (shape.length !== 2 || shape[0] < 1 || shape[1] !== width) {
    throw InvalidArgumentError.expected(`${where}.states.shape`, `[L, ${width}] or [1, L, ${width}] with L >= 1`, s.shape);
  }
  const L = shape[0];
  const mask = new Float32Array(L).fill(1);
  if (p.mask !== undefined) {
    const m = p.mask;
    if (typeof m !== 'object' || m === null || !Array.isArray(m.shape) || m.data == null) {
      throw InvalidArgumentError.expected(`${where}.mask`, `a tensor of ${L} zeros and ones`, m);
    }
    if (m.data.length !== L || m.shape.reduce((a, b) => a * b, 1) !== L) throw InvalidArgumentError.expected(`${where}.mask.shape`, `[${L}] or [1, ${L}]`, m.shape);
    for (let i = 0; i < L; i++) {
      const v = Number(m.data[i]);
      if (v !== 0 && v !== 1) throw InvalidArgumentError.expected(`${where}.mask.data[${i}]`, '0 or 1', m.data[i]);
      mask[i] = v;
    }
  }
  return { data: s.data, L, mask };
}

/**
 * The transformer's text rows for n prompts (and their negatives when guiding) under the official rules above:
 * (2n, L', D) ordered [negatives..., prompts...] when `negatives` is given, else (n, L', D).
 */
export function officialTextStates(prompts: PromptStates[], negatives: PromptStates[] | undefined, width: number): Tensor {
  if (!Array.isArray(prompts) || prompts.length === 0) throw InvalidArgumentError.expected('text', 'a non-empty array of { states, mask? }', prompts);
  const ps = prompts.map((p, i) => normalizePrompt(p, `text[${i}]`, width));
  const ns = negatives?.map((p, i) => normalizePrompt(p, `negativeText[${i}]`, width));
  if (ns && ns.length !== ps.length) throw InvalidArgumentError.expected('negativeText', `${ps.length} entries (one per prompt)`, ns.length);
  const L = ps[0].L;
  for (const [i, p] of [...ps.entries(), ...(ns ?? []).entries()]) {
    if (p.L !== L) throw InvalidArgumentError.expected(`text[${i}] length`, `${L} tokens like text[0] (the pipeline pads every prompt to one length)`, p.L);
  }
  let keep = L;
  if (ps.length === 1) {
    keep = ps[0].mask.reduce((a, b) => a + b, 0);
    if (keep < 1) throw InvalidArgumentError.expected('text[0].mask', 'at least one 1 (the tokenizer always keeps </s>)', 'all zeros');
  }
  const rows = [...(ns ?? []), ...ps];
  const out = new Float32Array(rows.length * keep * width);
  rows.forEach((r, i) => {
    const isPrompt = i >= (ns?.length ?? 0);
    for (let l = 0; l < keep; l++) {
      const src = r.data.subarray(l * width, (l + 1) * width);
      const dst = out.subarray((i * keep + l) * width, (i * keep + l + 1) * width);
      // several prompts: emb * mask (a zeroed row still takes part in the softmax)
      if (isPrompt && ps.length > 1 && r.mask[l] === 0) dst.fill(0);
      else dst.set(src);
    }
  });
  return { data: out, shape: [rows.length, keep, width] };
}

/** Prompts (and the negative prompt when guiding) through the tokenizer and T5, as encode_prompt does. */
export async function encodeT2VPrompts(
  encoder: TextEncoderModel, tokenizer: TextTokenizer, prompts: string[], negativePrompt: string | undefined,
  options: { signal?: AbortSignal; clean?: (text: string) => string } = {},
): Promise<{ prompts: PromptStates[]; negatives?: PromptStates[] }> {
  const clean = options.clean ?? ((t: string) => t);
  const texts = prompts.map(clean);
  const batch = negativePrompt === undefined ? texts : [...texts, ...texts.map(() => clean(negativePrompt))];
  const { states, mask } = await encoder.encodeText(tokenizer, batch, { maxLength: T2V_MAX_LENGTH, signal: options.signal });
  const [, L, D] = states.shape;
  const row = (i: number): PromptStates => ({
    states: { data: states.data.subarray(i * L * D, (i + 1) * L * D), shape: [L, D] },
    mask: { data: Array.from(mask.data.subarray(i * L, (i + 1) * L), Number), shape: [L] },
  });
  const n = prompts.length;
  return {
    prompts: Array.from({ length: n }, (_, i) => row(i)),
    negatives: negativePrompt === undefined ? undefined : Array.from({ length: n }, (_, i) => row(n + i)),
  };
}
