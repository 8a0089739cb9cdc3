// cleanCaption(): Skip-DiT's t2v caption cleaning (`_text_preprocessing(text, clean_caption=True)`) against the
// outputs of the official Python code (test/fixtures/caption-clean, made by tools/ref/caption_ref.py).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cleanCaption } from '../lib/caption.js';
import { InvalidArgumentError, SkipditError } from '../lib/errors.js';

interface CaptionCase {
  input: string;
  expected?: string;
  ftfy?: boolean;
  expectedWithoutMojibakeRepair?: string;
  error?: string;
}
const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = JSON.parse(readFileSync(path.join(here, 'fixtures', 'caption-clean', 'cases.json'), 'utf8')) as {
  versions: Record<string, string>;
  cases: CaptionCase[];
};
const exact = fixture.cases.filter((c) => c.expected !== undefined && !c.ftfy);
const mojibake = fixture.cases.filter((c) => c.ftfy);
const raising = fixture.cases.filter((c) => c.error !== undefined);

describe('cleanCaption vs the official Python', () => {
  it('the fixture is the one described in its README', () => {
    expect(fixture.cases.length).toBeGreaterThanOrEqual(150);
    expect(fixture.versions).toMatchObject({ python: '3.11.2', bs4: '4.11.2', ftfy: '6.3.1' });
  });

  it.each(exact.map((c, i) => [i, JSON.stringify(c.input).slice(0, 70), c] as const))('case %i %s', (_i, _label, c) => {
    expect(cleanCaption(c.input)).toBe(c.expected);
  });

  it('cases that depend on ftfy\'s mojibake repair give what ftfy gives without it (documented difference)', () => {
    for (const c of mojibake) expect(cleanCaption(c.input)).toBe(c.expectedWithoutMojibakeRepair);
  });

  it('inputs on which the official code raises give a string here', () => {
    for (const c of raising) expect(typeof cleanCaption(c.input)).toBe('string');
    expect(cleanCaption('<![foo]>a cat')).toBe('a cat');
    expect(cleanCaption('&#' + '9'.repeat(5000) + '; x')).toBe('� x');
  });
});

describe('cleanCaption examples', () => {
  it('Latte sample prompts keep their words, lower-cased', () => {
    expect(cleanCaption('Yellow and black tropical fish dart through the sea.')).toBe('yellow and black tropical fish dart through the sea.');
    expect(cleanCaption('a cat wearing sunglasses and working as a lifeguard at pool.')).toBe(
      'a cat wearing sunglasses and working as a lifeguard at pool.',
    );
  });
  it('markup, urls, handles and CJK go; entities and %-escapes are decoded', () => {
    expect(cleanCaption('<p>Hello <b>world</b></p> https://example.com @bob 猫')).toBe('hello world');
    expect(cleanCaption('tom &amp; jerry caf%C3%A9')).toBe('tom jerry café');
  });
  it('empty and blank strings give ""', () => {
    expect(cleanCaption('')).toBe('');
    expect(cleanCaption(' \t\n ')).toBe('');
  });
});

describe('cleanCaption robustness', () => {
  it('a value that is not a string is an InvalidArgumentError', () => {
    for (const bad of [undefined, null, 42, {}, ['a'], Symbol('s'), new String('a')]) {
      let err: unknown;
      try {
        cleanCaption(bad as unknown as string);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err).toBeInstanceOf(SkipditError);
      expect((err as Error).message).toMatch(/Expected a string for text/);
    }
  });

  it('never throws on random unicode (lone surrogates, controls, markup pieces)', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const pieces = ['<', '>', '</', '<!--', '<![', '<?', '&', '&#', '&#x', ';', '%', '+', '"', "'", '.', '-', '_', '@', '#', ' ', '\n',
      '<script>', '</script>', '<b>', '<br/>', '&amp;', '&#65;', 'http://', '.com', '1', 'x', 'a'];
    for (let n = 0; n < 3000; n++) {
      let s = '';
      const len = rand(40);
      for (let k = 0; k < len; k++) {
        const kind = rand(6);
        if (kind === 0) s += pieces[rand(pieces.length)];
        else if (kind === 1) s += String.fromCharCode(0xd800 + rand(0x800)); // lone surrogates
        else if (kind === 2) s += String.fromCharCode(rand(0x100));
        else if (kind === 3) s += String.fromCodePoint(rand(0x110000)); // any code point, astral ones included
        else s += String.fromCharCode(rand(0x10000));
      }
      const out = cleanCaption(s);
      expect(typeof out).toBe('string');
    }
  });

  it('hostile inputs finish in bounded time (no catastrophic backtracking)', () => {
    const N = 100_000;
    const r = (s: string): string => s.repeat(Math.ceil(N / s.length));
    const hostile = [
      r('.'), r('-'), r('<b>'), r('<b>') + r('</b>'), r('<'), r('<a'), r('<a b'), r('<!--'), r('</'), r('<!'), r('<?'), r('&'), r('&#'),
      'a' + r(' ') + 'b', r('1') + 'x', r('1') + '_', '1x1.' + r('1') + '_', r('%'), r('%C3'), r('a.'), r('a-'), r('@'), r('#1'),
      '<a ' + r('b') , '<script>' + r('a</b>'), r('. '), r('a.png'), r('a.pn'), '1:11' + r(' ') + 'x', r('\ud800'), r('😀'),
    ];
    for (const s of hostile) {
      const t0 = performance.now();
      cleanCaption(s);
      const ms = performance.now() - t0;
      expect(ms, JSON.stringify(s.slice(0, 12))).toBeLessThan(1000);
    }
  });
});
