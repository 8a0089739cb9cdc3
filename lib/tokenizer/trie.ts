// transformers' Trie (tokenization_utils.py, v4.39) and the added-token pass of PreTrainedTokenizer.tokenize():
// where literal special tokens are cut out of the text and which whitespace they eat. Ported line by line:
// its lookahead rules (leftmost start, then the longest token, '<extra_id_1>' vs '<extra_id_10>') decide ids.
import { chars as codePoints, lstrip, rstrip } from './pytext.js';

/** An added token (transformers' AddedToken): a string that is never split and maps to one id. */
export interface AddedToken {
  id: number;
  content: string;
  lstrip: boolean;
  rstrip: boolean;
  singleWord: boolean;
  special: boolean;
  /** Lower-cased with the text (BERT do_lower_case) when not special. */
  normalized: boolean;
}

interface Node {
  children: Map<string, Node>;
  end: boolean;
}

export class Trie {
  #root: Node = { children: new Map(), end: false };

  add(word: string): void {
    if (!word) return;
    let node = this.#root;
    for (const c of codePoints(word)) {
      let next = node.children.get(c);
      if (!next) node.children.set(c, (next = { children: new Map(), end: false }));
      node = next;
    }
    node.end = true;
  }

  split(text: string): string[] {
    const chars = codePoints(text);
    let states = new Map<number, Node>(); // partial matches by start, in start order
    const offsets = [0];
    let skip = 0;
    for (let current = 0; current < chars.length; current++) {
      if (skip && current < skip) continue;
      const currentChar = chars[current];
      const toRemove: number[] = [];
      let reset = false;
      for (const [stateStart, pointer] of states) {
        if (pointer.end) {
          // A match ends here: look ahead for a longer one starting at the same place or earlier.
          let start = stateStart;
          let end = current;
          for (const [lookStart, lookPointer] of states) {
            let look = lookPointer;
            let lookahead: number;
            if (lookStart > start) break;
            else if (lookStart < start) {
              lookahead = current + 1; // that pointer was already advanced past current
              end = current + 1;
            } else {
              lookahead = current;
              end = current;
            }
            let next: string | undefined = lookahead < chars.length ? chars[lookahead] : undefined;
            if (look.end) {
              start = lookStart;
              end = lookahead;
              skip = lookahead;
            }
            while (next !== undefined && look.children.has(next)) {
              look = look.children.get(next)!;
              lookahead += 1;
              if (look.end) {
                start = lookStart;
                end = lookahead;
                skip = lookahead;
              }
              if (lookahead === chars.length) break;
              next = chars[lookahead];
            }
          }
          offsets.push(start, end);
          reset = true;
          break;
        } else if (pointer.children.has(currentChar)) {
          states.set(stateStart, pointer.children.get(currentChar)!);
        } else {
          toRemove.push(stateStart);
        }
      }
      if (reset) states = new Map();
      else for (const s of toRemove) states.delete(s);
      const first = this.#root.children.get(currentChar);
      if (current >= skip && first) states.set(current, first);
    }
    for (const [start, pointer] of states) {
      if (pointer.end) {
        offsets.push(start, chars.length);
        break;
      }
    }
    offsets.push(chars.length);
    const parts: string[] = [];
    let start = 0;
    for (const end of offsets) {
      if (start >= end) continue; // a zero-width cut, or the reference's "bug in Trie" case it also skips
      parts.push(chars.slice(start, end).join(''));
      start = end;
    }
    return parts;
  }
}

/** One piece of the text: plain text to tokenize, or an added token. */
export type Chunk = { text: string; token?: undefined } | { text: string; token: AddedToken };

/**
 * PreTrainedTokenizer.tokenize() minus the model: cut out the added tokens, apply their lstrip / rstrip /
 * single_word rules to the neighbouring text, drop what became empty.
 */
export function splitAddedTokens(text: string, trie: Trie, added: ReadonlyMap<string, AddedToken>): Chunk[] {
  const tokens = trie.split(text);
  for (let i = 0; i < tokens.length; i++) {
    const tok = added.get(tokens[i]);
    if (!tok) continue;
    const left = i > 0 ? tokens[i - 1] : undefined;
    const right = i < tokens.length - 1 ? tokens[i + 1] : undefined;
    // rstrip: the token eats the whitespace on its right, so the text after it loses its leading spaces.
    if (tok.rstrip && right) tokens[i + 1] = lstrip(right);
    if (tok.lstrip && left) tokens[i - 1] = rstrip(left);
    if (tok.singleWord && left && !left.endsWith(' ')) {
      tokens[i - 1] += tokens[i];
      tokens[i] = '';
    } else if (tok.singleWord && right && !right.startsWith(' ')) {
      tokens[i + 1] = tokens[i] + tokens[i + 1];
      tokens[i] = '';
    }
  }
  const out: Chunk[] = [];
  for (const t of tokens) {
    if (!t) continue;
    const tok = added.get(t);
    out.push(tok ? { text: t, token: tok } : { text: t });
  }
  return out;
}
