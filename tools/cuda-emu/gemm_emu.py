# Lane-level emulation of one k-tile (kBK = 32) of gemm_mma_kernel's warp fragments (native/cuda/ops/gemm_mma.cu,
# index formulas transcribed) for each block tile, with the PTX ISA layouts of attention_emu.py. Needs numpy.
import numpy as np
from attention_emu import Smem, mma, L

kBK, kPitch = 32, 40
rng = np.random.default_rng(1)
worst = 0.0
for BM, BN in [(128, 128), (64, 128), (64, 64)]:
    MT, NT, WM, WN = BM // 32, BN // 32, BM // 2, BN // 4
    A = rng.standard_normal((BM, kBK)); B = rng.standard_normal((BN, kBK))
    sm = Smem((BM + BN) * kPitch)
    As, Bs = 0, BM * kPitch
    for r in range(BM): sm.m[As + r * kPitch: As + r * kPitch + kBK] = A[r]
    for r in range(BN): sm.m[Bs + r * kPitch: Bs + r * kPitch + kBK] = B[r]
    C = np.full((BM, BN), np.nan)
    for warp in range(8):
        wm, wn = warp // 4, warp % 4
        acc = np.zeros((MT, NT, 32, 4))
        for ks in range(0, kBK, 16):
            af = [sm.ldmatrix(As + (wm * WM + mt * 16 + (L % 16)) * kPitch + ks + (L // 16) * 8, 4, False) for mt in range(MT)]
            bf = [None] * NT
            for np_ in range(NT // 2):
                r = sm.ldmatrix(Bs + (wn * WN + (2 * np_ + L // 16) * 8 + (L % 8)) * kPitch + ks + ((L // 8) % 2) * 8, 4, False)
                bf[2 * np_] = (r[0], r[1]); bf[2 * np_ + 1] = (r[2], r[3])
            for mt in range(MT):
                for nt in range(NT):
                    acc[mt, nt] = mma(acc[mt, nt], af[mt], *bf[nt])
        g, q = L // 4, L % 4
        for mt in range(MT):
            for nt in range(NT):
                for e in range(4):
                    C[wm * WM + mt * 16 + g + (e // 2) * 8, wn * WN + nt * 8 + 2 * q + (e % 2)] = acc[mt, nt, :, e]
    err = np.abs(C - A @ B.T).max()
    assert not np.isnan(C).any(), f"{BM}x{BN}: outputs not written"
    print(f"gemm tile {BM}x{BN}: max |err| {err:.1e}")
    worst = max(worst, err)
assert worst < 1e-9
