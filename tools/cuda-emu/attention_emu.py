# Lane-level emulation of native/cuda/ops/attention_mma.cu (its index formulas, transcribed) using the PTX ISA
# documented layouts. Usage: python3 tools/cuda-emu/attention_emu.py [number of cases]. Needs numpy.
#   ldmatrix .m8n8 .b16: lanes 8i..8i+7 give row addresses of matrix i; lane l receives in register i
#     non-trans: (M_i[l/4][2(l%4)], M_i[l/4][2(l%4)+1]); .trans: (M_i[2(l%4)][l/4], M_i[2(l%4)+1][l/4])
#   mma.m16n8k16 .row.col f16/bf16 (g = l/4, t = l%4):
#     A: a0,a1 (g, 2t+j) ; a2,a3 (g+8, 2t+j) ; a4,a5 (g, 2t+8+j) ; a6,a7 (g+8, 2t+8+j); reg r = elems 2r,2r+1
#     B: b0,b1 (2t+j, g) ; b2,b3 (2t+8+j, g)
#     C: c0,c1 (g, 2t+j) ; c2,c3 (g+8, 2t+j)
# Shared memory starts as NaN so that any read of memory never written shows up in the result.
import sys
import numpy as np

kWarps, kKeys = 4, 64
kRows, kThreads = 16 * kWarps, 32 * kWarps
L = np.arange(32)
G_, T_ = L >> 2, L & 3

def bf16_round(x):
    x = np.asarray(x, dtype=np.float32)
    u = x.view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32).astype(np.float64)

class Smem:
    def __init__(self, n):
        self.m = np.full(n, np.nan)
        self.n = n
    def ldmatrix(self, addr, num, trans):
        addr = np.asarray(addr, dtype=np.int64)
        assert addr.shape == (32,)
        # every lane's address must be valid shared memory and 16-byte aligned (2-byte elements)
        assert np.all(addr >= 0) and np.all(addr + 8 <= self.n), "ldmatrix address out of range"
        assert np.all((addr * 2) % 16 == 0), "ldmatrix address not 16-byte aligned"
        regs = np.zeros((num, 32, 2))
        for i in range(num):
            M = np.stack([self.m[addr[8 * i + r]: addr[8 * i + r] + 8] for r in range(8)])  # 8x8
            if not trans:
                regs[i, :, 0] = M[G_, 2 * T_]
                regs[i, :, 1] = M[G_, 2 * T_ + 1]
            else:
                regs[i, :, 0] = M[2 * T_, G_]
                regs[i, :, 1] = M[2 * T_ + 1, G_]
        return regs

def mma(c, a, b0, b1):
    """c (32,4), a (4,32,2), b0/b1 (32,2) -> new c. Reconstructs the matrices from the documented layout."""
    A = np.full((16, 16), np.nan); B = np.full((16, 8), np.nan); C = np.full((16, 8), np.nan)
    for j in range(2):
        A[G_, 2 * T_ + j] = a[0, :, j]
        A[G_ + 8, 2 * T_ + j] = a[1, :, j]
        A[G_, 2 * T_ + 8 + j] = a[2, :, j]
        A[G_ + 8, 2 * T_ + 8 + j] = a[3, :, j]
        B[2 * T_ + j, G_] = b0[:, j]
        B[2 * T_ + 8 + j, G_] = b1[:, j]
        C[G_, 2 * T_ + j] = c[:, j]
        C[G_ + 8, 2 * T_ + j] = c[:, 2 + j]
    D = A @ B + C
    out = np.zeros((32, 4))
    for j in range(2):
        out[:, j] = D[G_, 2 * T_ + j]
        out[:, 2 + j] = D[G_ + 8, 2 * T_ + j]
    return out

def shfl_xor(v, m):
    return v[L ^ m]

def exp2f(x):
    with np.errstate(invalid="raise"):
        return np.exp2(x)

def run_block(qkv, N, H, hd, HDP, bid, out, round_p):
    kPitch, kSteps, kDimTiles = HDP + 8, HDP // 16, HDP // 8
    sm = Smem((kRows + 4 * kKeys) * kPitch)
    qs, ks, vs = 0, kRows * kPitch, kRows * kPitch + 2 * kKeys * kPitch
    D = H * hd; row = 3 * D
    qblocks = (N + kRows - 1) // kRows
    seq = bid // (H * qblocks); h = (bid // qblocks) % H; q0 = (bid % qblocks) * kRows
    flat = qkv.reshape(-1)
    base = seq * N * row + h * hd
    chunks = hd // 8; dim_tiles = hd // 8
    pad = HDP - hd
    for tid in range(kThreads):
        e = tid
        while e < (kRows + 2 * kKeys) * pad:
            r, c = e // pad, hd + e % pad
            sm.m[qs + r * kPitch + c] = 0.0
            e += kThreads
    def load_rows(dst, first, valid, offset):
        for tid in range(kThreads):
            c = tid
            while c < 64 * chunks:
                r = c // chunks; k = (c - r * chunks) * 8
                ok = r < valid
                d = dst + r * kPitch + k
                assert d + 8 <= sm.n and (d * 2) % 16 == 0
                if ok:
                    s = base + (first + r) * row + offset + k
                    assert (s * 2) % 16 == 0
                    sm.m[d:d + 8] = flat[s:s + 8]
                else:
                    sm.m[d:d + 8] = 0.0
                c += kThreads
    def load_kv(tile):
        j0 = tile * kKeys; valid = min(kKeys, N - j0); stage = tile & 1
        load_rows(ks + stage * kKeys * kPitch, j0, valid, D)
        load_rows(vs + stage * kKeys * kPitch, j0, valid, 2 * D)
    tiles = (N + kKeys - 1) // kKeys
    load_rows(qs, q0, min(kRows, N - q0), 0)
    load_kv(0)
    # (the emulation executes copies immediately; the pipeline order is checked by reasoning in the report)
    scale_log2 = np.float32(1.4426950408889634 / np.sqrt(hd))
    W = []
    for warp in range(kWarps):
        W.append(dict(qf=None, o=np.zeros((kDimTiles, 32, 4)), m=np.full((2, 32), -np.inf), l=np.zeros((2, 32))))
    for tile in range(tiles):
        if tile + 1 < tiles:
            # load_kv(tile+1) writes the other stage; emulate it AFTER the compute of this tile would be
            # equivalent because stages differ. Do it here, as the kernel issues it.
            pass
        for warp in range(kWarps):
            w = W[warp]
            if tile == 0:
                w['qf'] = [sm.ldmatrix(qs + (warp * 16 + (L & 15)) * kPitch + kk * 16 + (L >> 4) * 8, 4, False)
                           for kk in range(kSteps)]
            kt = ks + (tile & 1) * kKeys * kPitch
            vt = vs + (tile & 1) * kKeys * kPitch
            s = np.zeros((kKeys // 8, 32, 4))
            for kk in range(kSteps):
                for np_ in range(kKeys // 16):
                    r = sm.ldmatrix(kt + ((2 * np_ + (L >> 4)) * 8 + (L & 7)) * kPitch + kk * 16 + ((L >> 3) & 1) * 8, 4, False)
                    s[2 * np_] = mma(s[2 * np_], w['qf'][kk], r[0], r[1])
                    s[2 * np_ + 1] = mma(s[2 * np_ + 1], w['qf'][kk], r[2], r[3])
            j0 = tile * kKeys
            mx = w['m'].copy()
            for nt in range(kKeys // 8):
                for e in range(4):
                    key = j0 + nt * 8 + 2 * T_ + (e & 1)
                    v = np.where(key < N, s[nt, :, e] * scale_log2, -np.inf)
                    s[nt, :, e] = v
                    mx[e >> 1] = np.fmax(mx[e >> 1], v)
            corr = np.zeros((2, 32))
            for r in range(2):
                mx[r] = np.fmax(mx[r], shfl_xor(mx[r], 1))
                mx[r] = np.fmax(mx[r], shfl_xor(mx[r], 2))
                corr[r] = exp2f(w['m'][r] - mx[r])
                w['m'][r] = mx[r]
                w['l'][r] *= corr[r]
            for nt in range(kKeys // 8):
                for e in range(4):
                    p = exp2f(s[nt, :, e] - w['m'][e >> 1])
                    s[nt, :, e] = p
                    w['l'][e >> 1] += p
            o = w['o']
            for nt in range(kDimTiles):
                o[nt, :, 0] *= corr[0]; o[nt, :, 1] *= corr[0]
                o[nt, :, 2] *= corr[1]; o[nt, :, 3] *= corr[1]
            rp = bf16_round if round_p else (lambda x: x)
            for kk in range(kKeys // 16):
                a = np.zeros((4, 32, 2))
                a[0, :, 0], a[0, :, 1] = rp(s[2 * kk, :, 0]), rp(s[2 * kk, :, 1])
                a[1, :, 0], a[1, :, 1] = rp(s[2 * kk, :, 2]), rp(s[2 * kk, :, 3])
                a[2, :, 0], a[2, :, 1] = rp(s[2 * kk + 1, :, 0]), rp(s[2 * kk + 1, :, 1])
                a[3, :, 0], a[3, :, 1] = rp(s[2 * kk + 1, :, 2]), rp(s[2 * kk + 1, :, 3])
                vrow = vt + (kk * 16 + (L & 7) + ((L >> 3) & 1) * 8) * kPitch
                for np_ in range(kDimTiles // 2):
                    if 2 * np_ + 1 < dim_tiles:
                        r = sm.ldmatrix(vrow + (2 * np_ + (L >> 4)) * 8, 4, True)
                        o[2 * np_] = mma(o[2 * np_], a, r[0], r[1])
                        o[2 * np_ + 1] = mma(o[2 * np_ + 1], a, r[2], r[3])
                    elif 2 * np_ < dim_tiles:
                        r = sm.ldmatrix(vrow + 2 * np_ * 8, 2, True)
                        o[2 * np_] = mma(o[2 * np_], a, r[0], r[1])
        if tile + 1 < tiles:
            load_kv(tile + 1)  # the other stage; nothing reads it during this tile
    for warp in range(kWarps):
        w = W[warp]; l = w['l'].copy(); o = w['o']
        for r in range(2):
            l[r] += shfl_xor(l[r], 1)
            l[r] += shfl_xor(l[r], 2)
        inv = 1.0 / l
        qrow = [q0 + warp * 16 + G_, q0 + warp * 16 + G_ + 8]
        obase = seq * N * D + h * hd
        of = out.reshape(-1)
        for nt in range(kDimTiles):
            col = nt * 8 + 2 * T_
            for r in range(2):
                for ln in range(32):
                    if nt < dim_tiles and qrow[r][ln] < N:
                        idx = obase + qrow[r][ln] * D + col[ln]
                        assert (idx * 2) % 4 == 0
                        of[idx] = o[nt, ln, 2 * r] * inv[r][ln]
                        of[idx + 1] = o[nt, ln, 2 * r + 1] * inv[r][ln]

def reference(qkv, G, N, H, hd):
    D = H * hd
    x = qkv.reshape(G, N, 3, H, hd)
    q, k, v = x[:, :, 0], x[:, :, 1], x[:, :, 2]  # (G, N, H, hd)
    s = np.einsum('gnhd,gmhd->ghnm', q, k) / np.sqrt(hd)
    s -= s.max(-1, keepdims=True)
    p = np.exp(s); p /= p.sum(-1, keepdims=True)
    o = np.einsum('ghnm,gmhd->gnhd', p, v)
    return o.reshape(G, N, D)

def check(G, N, H, hd, round_p=False, seed=0):
    HDP = 32 if hd <= 32 else 64 if hd <= 64 else 80 if hd <= 80 else 96 if hd <= 96 else 128
    rng = np.random.default_rng(seed)
    qkv = bf16_round(rng.standard_normal((G, N, 3 * H * hd)).astype(np.float32) * 1.5)
    out = np.full((G, N, H * hd), np.nan)
    blocks = G * H * ((N + kRows - 1) // kRows)
    for bid in range(blocks):
        run_block(qkv, N, H, hd, HDP, bid, out, round_p)
    ref = reference(qkv, G, N, H, hd)
    assert not np.isnan(out).any(), "output element not written or NaN"
    err = np.abs(out - ref).max()
    return err

if __name__ == "__main__":
    cases = [(2, 130, 2, 72), (1, 1, 1, 8), (1, 63, 3, 16), (1, 64, 2, 24), (1, 65, 2, 40), (2, 129, 2, 64),
             (1, 200, 2, 80), (1, 150, 2, 96), (1, 70, 2, 104), (1, 130, 2, 128), (1, 257, 1, 72), (1, 5, 2, 56)]
    if len(sys.argv) > 1:
        cases = cases[:int(sys.argv[1])]
    for c in cases:
        e = check(*c)
        e2 = check(*c, round_p=True)
        print(f"G,N,H,hd={c}: max |err| exact-P {e:.3e}  bf16-P {e2:.3e}", flush=True)
        assert e < 1e-5 and e2 < 1e-2, f"{c}: the emulated kernel disagrees with the reference"
