// The text of a Hunyuan-DiT run as sample_t2i.py builds it (Skip-DiT text-to-image/hydit, End2End.predict and its
// StableDiffusionPipeline): BERT (77 tokens, last_hidden_state) and mT5 (256 tokens) states with their tokenizer
// masks; the CFG batch is cat([negative x n, prompt x n]) for both encoders, negative FIRST. The masks never mask
// attention: the model swaps padded tokens for learned rows (text_embedding_padding).
import { InvalidArgumentError } from './errors.js';
import type { RowText } from './model.js';
import { checkTensor, type Tensor } from './tensor.js';
import type { TextEncoderModel, TextTokenizer } from './text-encoder.js';

/** hydit.constants.NEGATIVE_PROMPT, the default negative prompt of sample_t2i.py. */
export const HUNYUAN_NEGATIVE_PROMPT = '错误的眼睛，糟糕的人脸，毁容，糟糕的艺术，变形，多余的肢体，模糊的颜色，模糊，重复，病态，残缺，';

/** One prompt's states from both encoders: [BERT, mT5], each (L, C) or (1, L, C) with its 0/1 mask (L). */
export type HunyuanPromptStates = [RowText, RowText];

/** The two encoders' sizes of a model config: [[L1, C1], [L2, C2]]. */
export type HunyuanTextSizes = [[number, number], [number, number]];

function one(entry: RowText, where: string, [L, C]: [number, number]): { states: Float32Array; mask: Float32Array } {
  if (typeof entry !== 'object' || entry === null) throw InvalidArgumentError.expected(where, '{ states, mask }', entry);
  const s = checkTensor(entry.states, `${where}.states`);
  const shape = s.shape.length === 3 && s.shape[0] === 1 ? s.shape.slice(1) : s.shape;
  if (shape.length !== 2 || shape[0] !== L || shape[1] !== C) throw InvalidArgumentError.expected(`${where}.states.shape`, `[${L}, ${C}] or [1, ${L}, ${C}]`, s.shape);
  if (entry.mask === undefined) throw InvalidArgumentError.expected(`${where}.mask`, `the tokenizer mask (${L} zeros and ones)`, undefined);
  const m = checkTensor(entry.mask, `${where}.mask`);
  if (m.data.length !== L) throw InvalidArgumentError.expected(`${where}.mask.shape`, `[${L}] or [1, ${L}]`, m.shape);
  m.data.forEach((v, i) => {
    if (v !== 0 && v !== 1) throw InvalidArgumentError.expected(`${where}.mask.data[${i}]`, '0 or 1', v);
  });
  return { states: s.data, mask: m.data };
}

/**
 * The model's text rows for `n` images of each prompt: per encoder (rows, L, C) states and (rows, L) masks, rows =
 * [negative x n per prompt..., prompt x n per prompt...] when `negatives` is given (guidance), else the prompts'.
 */
export function hunyuanTextRows(prompts: HunyuanPromptStates[], negatives: HunyuanPromptStates[] | undefined, n: number, sizes: HunyuanTextSizes): [RowText, RowText] {
  if (!Array.isArray(prompts) || prompts.length === 0) throw InvalidArgumentError.expected('text', 'one [BERT, mT5] pair of { states, mask } per prompt', prompts);
  if (negatives && negatives.length !== prompts.length) throw InvalidArgumentError.expected('negativeText', `${prompts.length} pairs (one per prompt)`, negatives.length);
  const pairs = [...(negatives ?? []), ...prompts];
  return sizes.map(([L, C], e) => {
    const rows = pairs.flatMap((pair, i) => {
      const where = i < (negatives?.length ?? 0) ? `negativeText[${i}][${e}]` : `text[${i - (negatives?.length ?? 0)}][${e}]`;
      if (!Array.isArray(pair) || pair.length !== 2) throw InvalidArgumentError.expected(where.slice(0, -3), '[BERT { states, mask }, mT5 { states, mask }]', pair);
      const row = one(pair[e], where, [L, C]);
      return Array.from({ length: n }, () => row);
    });
    const states = new Float32Array(rows.length * L * C), mask = new Float32Array(rows.length * L);
    rows.forEach((r, i) => {
      states.set(r.states, i * L * C);
      mask.set(r.mask, i * L);
    });
    return { states: { data: states, shape: [rows.length, L, C] }, mask: { data: mask, shape: [rows.length, L] } } as RowText;
  }) as [RowText, RowText];
}

/** The encoders of sample_t2i.py: the Chinese BERT (clip_text_encoder) and mT5, each with its tokenizer. */
export interface HunyuanTextEncoders {
  bert: TextEncoderModel;
  bertTokenizer: TextTokenizer;
  mt5: TextEncoderModel;
  mt5Tokenizer: TextTokenizer;
}

/** Prompts through both encoders (padding to max_length, truncation), as End2End.predict encodes them. */
export async function encodeHunyuanPrompts(encoders: HunyuanTextEncoders, texts: string[], sizes: HunyuanTextSizes, signal?: AbortSignal): Promise<HunyuanPromptStates[]> {
  const [[L1], [L2]] = sizes;
  const bert = await encoders.bert.encodeText(encoders.bertTokenizer, texts, { maxLength: L1, signal });
  const mt5 = await encoders.mt5.encodeText(encoders.mt5Tokenizer, texts, { maxLength: L2, signal });
  const row = (e: { states: Tensor; mask: { data: Int32Array } }, i: number, L: number): RowText => {
    const C = e.states.shape[2];
    return {
      states: { data: e.states.data.slice(i * L * C, (i + 1) * L * C), shape: [L, C] },
      mask: { data: Float32Array.from(e.mask.data.subarray(i * L, (i + 1) * L)), shape: [L] },
    };
  };
  return texts.map((_, i) => [row(bert, i, L1), row(mt5, i, L2)]);
}
