#!/usr/bin/env python3
"""Expected outputs of Skip-DiT's official caption cleaning (text-to-video pipeline).

Loads ONLY `_text_preprocessing` and `_clean_caption` (and the class attribute `bad_punct_regex`) from the
official `text-to-video/sample/pipeline_latte.py`, by extracting their source with `ast` from a git mirror of
OpenSparseLLMs/Skip-DiT and exec-ing it with the imports it needs (re, html, urllib.parse, bs4.BeautifulSoup,
ftfy). The pipeline module itself is never imported (it needs torch/diffusers).

Writes test/fixtures/caption-clean/cases.json: for each input, what
`pipeline._text_preprocessing(text, clean_caption=True)[0]` returns (that is `_clean_caption` applied twice).

Every case is also run with ftfy's mojibake repair (`fix_encoding`) switched off; when that changes the result,
the case is marked `"ftfy": true` and the switched-off result is stored as `expectedWithoutMojibakeRepair`.
An input for which the official code raises is stored with `"error"` (the exception) and no `expected`.

Usage (Debian bookworm: apt-get install python3-bs4 python3-wcwidth; ftfy is not packaged there, so it is
imported from a git mirror of rspeer/python-ftfy at tag v6.3.1):

  /usr/bin/python3 tools/ref/caption_ref.py --skipdit-git <Skip-DiT .git dir> --ftfy-git <python-ftfy .git dir>
"""
import argparse
import ast
import html
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import urllib.parse as ul

PIPELINE_PATH = 'text-to-video/sample/pipeline_latte.py'
FTFY_TAG = 'v6.3.1'
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'caption-clean', 'cases.json')


def git(gitdir, *args):
    return subprocess.run(['git', '--git-dir', gitdir, *args], check=True, capture_output=True).stdout


def load_official(source, ftfy_module):
    from bs4 import BeautifulSoup
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == 'LattePipeline')
    wanted = []
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name in ('_text_preprocessing', '_clean_caption'):
            wanted.append(node)
        elif isinstance(node, ast.Try):  # try: bad_punct_regex = re.compile(...) except: pass
            wanted.append(node)
    assert len(wanted) == 3, [type(n).__name__ for n in wanted]
    body = ast.Module(body=[ast.ClassDef(name='Official', bases=[], keywords=[], body=wanted, decorator_list=[])],
                      type_ignores=[])
    ast.fix_missing_locations(body)

    class _Logger:
        def warn(self, *a):
            raise RuntimeError('clean_caption was switched off: ' + repr(a))

    ns = {
        're': re, 'html': html, 'ul': ul, 'BeautifulSoup': BeautifulSoup, 'ftfy': ftfy_module,
        'is_bs4_available': lambda: True, 'is_ftfy_available': lambda: True, 'logger': _Logger(),
        'BACKENDS_MAPPING': {},
    }
    exec(compile(body, PIPELINE_PATH, 'exec'), ns)
    return ns['Official']()


def cases():
    c = []
    add = c.append
    # Latte / Skip-DiT sample prompts and other realistic prompts.
    for p in [
        'Yellow and black tropical fish dart through the sea.',
        'An epic tornado attacking above aglowing city at night.',
        'Slow pan upward of blazing oak fire in an indoor fireplace.',
        'a cat wearing sunglasses and working as a lifeguard at pool.',
        'Sunset over the sea.',
        'A dog in astronaut suit and sunglasses floating in space.',
        'A beautiful coastal beach in spring, waves lapping on sand by Hokusai, in the style of Ukiyo',
        'A panda standing on a surfboard in the ocean in sunset, 4k, high resolution.',
        'an astronaut flying in space, 4k, high resolution.',
        'A small cactus with a happy face in the Sahara desert.',
        'Teddy bear walking down 5th Avenue, front view, beautiful sunset',
        'A Shiba Inu dog wearing a beret and black turtleneck.',
        'Close-up of a vibrant red rose — blooming in time-lapse; 8K, HDR!',
        'A "cinematic" shot: the camera zooms in on a lighthouse (at dusk) & waves crash.',
        "Darth Vader's helmet, studio lighting, product shot",
        '  Leading and trailing spaces  ',
        'ALL CAPS PROMPT ABOUT A RED CAR DRIFTING',
        'Multi\nline\nprompt\n',
        'tabs\tand\r\nwindows line breaks\r\n',
        'A robot dj is playing the turntable, in heavy raining futuristic tokyo rooftop cyberpunk night, sci-fi, fantasy',
        'time-lapse of a-flower-opening-in-the-garden',
        'this_is_my_cute_cat_video',
        'one-two-three',
        'one-two-three-four-five',
        'Flying through an intense battle between pirate ships in a stormy ocean',
    ]:
        add(p)
    # The empty string, whitespace only, very long.
    for p in ['', ' ', '   \t\n  ', '\n', '.', '..', '...', '-', '"', "'", '"quoted"', "'single'", '""', "''"]:
        add(p)
    add('a cat ' * 400)
    add('The quick brown fox jumps over the lazy dog. ' * 120)
    # URLs.
    for p in [
        'visit https://example.com/path?x=1 for more',
        'see http://www.site.org/page.html now',
        'www.example.com is a site',
        'go to example.net/foo-bar/baz/ today',
        'mail me at someone@example.com please',
        'https://t.co/AbCdEf',
        'link:https:abc and http:///triple',
        'foo.co bar.ru baz.it qux.edu quux.gov',
        'python.org@home',
        'a video from youtube.com/watch?v=dQw4w9WgXcQ',
    ]:
        add(p)
    # HTML tags and entities.
    for p in [
        '<p>Hello <b>world</b></p>',
        '<div class="x">A <i>quick</i> fox</div><br/>jumps',
        '<script>alert(1)</script>after script',
        '<style>p {color: red}</style>styled',
        '<!-- a comment -->visible',
        '<!DOCTYPE html><html><body>doc</body></html>',
        '<![CDATA[cdata text]]> tail',
        '<?xml version="1.0"?>pi text',
        'a < b and c > d',
        '1 <2 and 3> 4',
        '<unclosed tag',
        'text <a href="x">link',
        'tom &amp; jerry',
        'tom &amp jerry',
        'quote &quot;here&quot; and &quot there',
        '&lt;b&gt;not a tag&lt;/b&gt;',
        'caf&eacute; and na&iuml;ve',
        'numeric &#65;&#x42;&#67 refs',
        '&#150; cp1252 dash and &#8212; em dash',
        '&#0; &#1114112; &#xD800; bad refs',
        'nbsp&nbsp;here&nbsp',
        '&copy; 2024 &reg; &trade;',
        'AT&T and R&D',
        '&amp;amp;amp; nested',
        '&notit; &notin; &not',
        '<textarea>  keep   spaces  </textarea>x',
        '<b>   </b>collapsed',
        '<b>\n\n</b>newline',
        '<br>text</br>more',
        '<rt>ruby</rt>base<rp>(</rp>',
        '<template>tmpl</template>outside',
        '</p>stray end tag',
        '</>empty end tag',
        '<!bogus comment>after',
        '<a<b<c>nested opens',
        '<img src="a.png" alt="A cat">cat picture',
        '<P>UPPER TAG</P>',
        '<person> walking a dog',
        '<span title="a > b">attr gt</span>',
    ]:
        add(p)
    # @handles, #hashtags.
    for p in [
        '@user123 posted a video',
        'hello @john_doe! and @Émile',
        '#sunset #beach #summer vibes',
        '#1 best video #12345 #123456 #1234',
        'price #99 and #100',
        'email test@foo',
    ]:
        add(p)
    # CJK, other scripts, emoji.
    for p in [
        '一只猫在沙发上睡觉',
        'a cat 猫 sleeping',
        '日本語のテキスト and katakana ｶﾀｶﾅ',
        '㈱ enclosed ㍿ compat ㇀ strokes ䷀ hexagram',
        '한국어 텍스트',
        'Привет мир, кот в шляпе',
        'Ελληνικά ΣΟΦΟΣ',
        'mixed 中文English混合',
        '😀 smiling face 🐱 cat',
        '👨‍👩‍👧 family emoji',
        'ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ',
        'ﬁne ﬂowers ﬀ',
        'İstanbul',
        'straße',
        'café naïve résumé',
        'e\u0301 combining acute',
        'arabic: مرحبا بالعالم',
        'hebrew: שלום',
        'devanagari: नमस्ते',
        'digits: ٣٤٥ ٠١٢٣٤٥٦٧ 𝟙𝟚𝟛',
        'superscript x² and ½ fraction',
    ]:
        add(p)
    # Quotes and dashes.
    for p in [
        '“curly double” and ‘curly single’',
        '«guillemets» and ``backticks´´',
        'em—dash en–dash minus−sign hyphen‐x',
        'wave〜dash and ー katakana long',
        'a ‚low‛ „quote‟',
        "it's a cat's toy",
        '""""AUSVERKAUFT""""',
        "''double single''",
    ]:
        add(p)
    # IPs, ids, numbers, file names.
    for p in [
        'server 192.168.0.1 down',
        'version 1.2.3.4.5',
        'article 1:23  ',
        'time 12:30 pm',
        'code jc6640 and jc6640vc and 6640vc231',
        'j2d1a2a and abc123def456',
        'a photo.jpg and clip.mp4 and doc.pdf',
        'download free png images',
        'worldwide free shipping now',
        'click for details and click on here',
        'page 12 of the book',
        '1920x1080 and 3.5x2 and 4×4',
        'order 1234567 shipped',
        'the year 2024 and 100000 people',
        'literal \\n newline escape',
        'backslash \\ and slash / and pipe |',
        '***AUSVERKAUFT*** [tag] {brace} (paren)',
        '®•©™ & @ · º ½ ¾ ¿ ¡ § ~',
        'a . b . c',
        'wait... what.... really',
        '....',
        'hello , world : yes',
        'a,b.c/d',
        'end with comma,',
        'end with plus+',
        ':start with colon',
        '_underscore start',
        '.hidden',
        '"whole quoted"',
        '"mismatched\'',
    ]:
        add(p)
    # %-escapes and '+'.
    for p in [
        'a+cat+on+a+mat',
        'caf%C3%A9 au lait',
        '100% sure',
        '%E4%B8%AD%E6%96%87',
        '%zz %4 %ff invalid',
        '%C3 truncated',
        '%C3é%A9 split by non-ascii',
        'a%20b%2Bc',
    ]:
        add(p)
    # Mojibake that ftfy repairs.
    for p in [
        'schÃ¶n',
        'itâ€™s a cat',
        'Ã©tÃ© Ã  la plage',
        'â€œquotedâ€\x9d',
        'Ã¢â‚¬â„¢ double mojibake',
        'voilÃ le travail',
        'C1 control \x80 and \x9f',
        'ã\x83\x84',
        '\x1b[36mcolored\x1b[0m text',
        'control\x00chars\x07here\x7f',
        '\ufeffbom start',
        'line\u2028sep\u2029para\x85next',
    ]:
        add(p)
    # Hostile but short.
    for p in [
        '.' * 200,
        '-' * 200,
        '<b>' * 50 + 'deep' + '</b>' * 50,
        '&' * 50,
        '@' * 30 + 'x',
        '#' * 30,
        'a-b_c-d_e',
        '\ud800 lone surrogate',
        'x\udfffy',
    ]:
        add(p)
    # Non-ASCII digits and letters around Python's Unicode \d / \w / \b.
    for p in [
        '\u0663\u0664\u0665\u0666\u0667\u0668 arabic-indic six digits',
        'ab\u0661\u0662\u0663 and \u0661\u0662x\u0663\u0664',
        'caf\u00e9123 and \u00e9t\u00e9 #\u0661\u0662',
        '\u00bd\u00bc vulgar fractions \u2160\u2161 roman numerals',
        'r\u00e9sum\u00e9_v2 and na\u00efve-test',
    ]:
        add(p)
    # Inputs on which the official code raises (bs4 4.11 lets html.parser's AssertionError out; Python's int()
    # refuses more than 4300 decimal digits).
    for p in ['<![foo]>a cat', '<![ 1 a dog', '&#' + '9' * 5000 + '; x']:
        add(p)
    # Seeded random mixes of the pieces the cleaning reacts to.
    rng = random.Random(20240611)
    pieces = ['<', '>', '</', '<b>', '</b>', '<script>', '</script>', '<!--', '-->', '<![CDATA[', ']]>', '<?', '&',
              '&#', '&amp;', '&lt;', '&notin', '&#150;', ';', '#12', '#123456', '@bob', 'a', 'x', '1', '1234567', '.',
              '...', ' ', '\n', '-', '_', '"', "'", '\u201c', '\u2019', 'http://', 'www.', '.com', '/', '\\n', '%20',
              '%C3%A9', '+', '\u00e9', '\u0130', '\u732b', '\uff76', '\ufb01', '\U0001f600', '\u0663', '\u00d7',
              'jc6640', 'page 3', 'free shipping', 'download', 'click on me', 'img.jpg', '1920x1080', '192.168.1.1',
              '1:23', ':', ',', '<br>', '<pre>', '</pre>', '<rt>', '\x80', '\u2028', '\xa0', '\u3000', '\x1b[31m',
              '&EACUTE;', '<a', '<a b', '=', '/>', '</>', '<!doctype html>', '<![if x]>', '&a']
    for _ in range(100):
        text = ''.join(rng.choice(pieces) for _ in range(rng.randint(1, 10)))
        add(text.upper() if rng.random() < 0.25 else text)
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--skipdit-git', required=True)
    ap.add_argument('--ftfy-git', required=True)
    args = ap.parse_args()

    skipdit_commit = git(args.skipdit_git, 'rev-parse', 'HEAD').decode().strip()
    source = git(args.skipdit_git, 'show', f'HEAD:{PIPELINE_PATH}').decode('utf-8')
    ftfy_commit = git(args.ftfy_git, 'rev-parse', FTFY_TAG + '^{commit}').decode().strip()
    tmp = tempfile.mkdtemp(prefix='ftfy-')
    tar = git(args.ftfy_git, 'archive', FTFY_TAG, 'ftfy')
    subprocess.run(['tar', 'x', '-C', tmp], input=tar, check=True)
    sys.path.insert(0, tmp)
    import bs4
    import ftfy
    import wcwidth

    class NoMojibake:  # ftfy with only its mojibake repair (fix_encoding) switched off
        @staticmethod
        def fix_text(text):
            return ftfy.fix_text(text, fix_encoding=False)

    official = load_official(source, ftfy)
    variant = load_official(source, NoMojibake)

    out = []
    seen = set()
    for text in cases():
        if text in seen:
            continue
        seen.add(text)
        case = {'input': text}
        try:
            got = official._text_preprocessing(text, clean_caption=True)
            assert isinstance(got, list) and len(got) == 1
            case['expected'] = got[0]
            alt = variant._text_preprocessing(text, clean_caption=True)[0]
            case['ftfy'] = alt != got[0]
            if case['ftfy']:
                case['expectedWithoutMojibakeRepair'] = alt
        except Exception as e:  # noqa: BLE001
            case['error'] = f'{type(e).__name__}: {e}'
        out.append(case)

    doc = {
        'description': "Skip-DiT LattePipeline._text_preprocessing(text, clean_caption=True)[0] (= _clean_caption twice)",
        'generator': 'tools/ref/caption_ref.py',
        'source': {'repo': 'OpenSparseLLMs/Skip-DiT', 'commit': skipdit_commit, 'path': PIPELINE_PATH},
        'versions': {
            'python': platform.python_version(),
            'unicodedata': __import__('unicodedata').unidata_version,
            'bs4': bs4.__version__,
            'ftfy': ftfy.__version__ if hasattr(ftfy, '__version__') else FTFY_TAG,
            'ftfyCommit': ftfy_commit,
            'wcwidth': wcwidth.__version__,
        },
        'cases': out,
    }
    with open(OUT, 'w', encoding='ascii') as f:
        json.dump(doc, f, indent=1, ensure_ascii=True)
        f.write('\n')
    n_ftfy = sum(1 for c in out if c.get('ftfy'))
    n_err = sum(1 for c in out if 'error' in c)
    print(f'{len(out)} cases ({n_ftfy} depend on ftfy mojibake repair, {n_err} raise) -> {os.path.normpath(OUT)}')


if __name__ == '__main__':
    main()
