import re, subprocess, sys
# Mutations of the transcribed index formulas: each must make attention_emu.py fail (it has to be able to).
import os
here = os.path.dirname(os.path.abspath(__file__))
src = open(os.path.join(here, 'attention_emu.py')).read()
muts = {
 'V no trans': ("r = sm.ldmatrix(vrow + (2 * np_ + (L >> 4)) * 8, 4, True)", "r = sm.ldmatrix(vrow + (2 * np_ + (L >> 4)) * 8, 4, False)"),
 'K swap lane bits': ("kt + ((2 * np_ + (L >> 4)) * 8 + (L & 7)) * kPitch + kk * 16 + ((L >> 3) & 1) * 8", "kt + ((2 * np_ + ((L >> 3) & 1)) * 8 + (L & 7)) * kPitch + kk * 16 + (L >> 4) * 8"),
 'Q swap lane bits': ("qs + (warp * 16 + (L & 15)) * kPitch + kk * 16 + (L >> 4) * 8", "qs + (warp * 16 + (L & 7) + (L >> 4) * 8) * kPitch + kk * 16 + ((L >> 3) & 1) * 8"),
 'P pack swap': ("a[1, :, 0], a[1, :, 1] = rp(s[2 * kk, :, 2]), rp(s[2 * kk, :, 3])\n                a[2, :, 0], a[2, :, 1] = rp(s[2 * kk + 1, :, 0]), rp(s[2 * kk + 1, :, 1])", "a[2, :, 0], a[2, :, 1] = rp(s[2 * kk, :, 2]), rp(s[2 * kk, :, 3])\n                a[1, :, 0], a[1, :, 1] = rp(s[2 * kk + 1, :, 0]), rp(s[2 * kk + 1, :, 1])"),
 'no pad zero': ("sm.m[qs + r * kPitch + c] = 0.0", "pass"),
 'x2 key half': ("r = sm.ldmatrix(vrow + 2 * np_ * 8, 2, True)", "r = sm.ldmatrix(vrow - ((L >> 3) & 1) * 8 * kPitch + 2 * np_ * 8, 2, True)"),
}
for name, (a, b) in muts.items():
    assert a in src, name
    mutant = os.path.join(here, '_mutant.py')
    open(mutant, 'w').write(src.replace(a, b))
    r = subprocess.run([sys.executable, mutant, '1'], capture_output=True, text=True)
    os.remove(mutant)
    assert r.returncode != 0, f'{name}: not detected'
    print(name, '->', (r.stdout.strip() or r.stderr.strip().splitlines()[-1])[:150])
