/*
 * rnn_loop.c -- the loop over time of SimpleRNN, LSTM and GRU on the CPU, with
 * the recurrent matrix product inside, forward and backward (BPTT).
 *
 * Plain C (no torch headers), called from Python through ctypes by
 * rnnkit/layers/_compiled.py; compiled at first use by rnnkit/_kernels/__init__.py
 * with  cc -O3 -march=native -fno-trapping-math -fopenmp -shared -fPIC rnn_loop.c -o <cache>.so -lm.
 *
 * The caller computes the input projection of every step with one matrix
 * product beforehand: xp (T, B, G*U), every bias outside a gate product already
 * added, gate blocks side by side inside a row.  Cell kinds and gate orders:
 *
 *   kind 0, SimpleRNN (G = 1):      h_t = phi(xp_t + hr W^T)
 *   kind 1, LSTM (G = 4; i, f, g, o):
 *       z = xp_t + hr W^T,  i = s(z_i), f = s(z_f), g = phi(z_g), o = s(z_o)
 *       c_t = f c_{t-1} + i g,  h_t = o phi(c_t)
 *   kind 2, GRU reset_after (G = 3; r, z, n):
 *       p = hr W^T,  r = s(x_r + p_r), z = s(x_z + p_z),
 *       n = phi(x_n + r (p_n + b_hn)),  h_t = n + z (h_{t-1} - n)
 *   kind 3, GRU reset before the product (G = 3; r, z, n):
 *       r = s(x_r + hr W_r^T), z = s(x_z + hr W_z^T),
 *       n = phi(x_n + (r hr) W_n^T),  h_t = n + z (h_{t-1} - n)
 *
 * where hr = h_{t-1} * rmask (the recurrent-dropout mask (B, U), or h_{t-1}
 * itself), s is the recurrent activation and phi the activation, each one of
 *   0 linear, 1 tanh, 2 sigmoid, 3 hard_sigmoid = relu6(x + 3) / 6, 4 relu.
 * A mask (T, B) of bytes, 0 = a masked step, makes that row keep its state.
 *
 * Saved for the backward (all contiguous, written by the forward; with saved = 0,
 * for inference, A and E hold one step and Cs two, reused):
 *   Hs (T+1, B, U) states, Hs[0] = h_0 given;  Cs (T+1, B, U) LSTM cell states;
 *   A (T, B, G*U) the activated gates (SimpleRNN: the unmasked new state);
 *   E (T, B, U) LSTM: phi(c_t) of the unmasked update; GRU kind 2: p_n + b_hn;
 *     GRU kind 3: r hr;  HR (T, B, U) hr when there is a rmask.
 * The backward returns dZ (T, B, G*U), the gradient of xp; for kind 2 also dP
 * (T, B, 3U), that of the recurrent product p; and dh_0 (and dc_0).  The caller
 * forms dL/dW = sum_t dZ_t^T hr_t with one large matrix product.
 *
 * rk_rnn_forward / rk_rnn_backward run the whole sequence.  (Looping in Python
 * around oneDNN's product with one C call per step was measured too: oneDNN's
 * product alone is ~2x faster at B64 U512, yet per layer the two tie there and
 * this loop wins clearly below 2^23 multiply-adds per step, so it is not kept.)
 *
 * Work split: the units are cut into blocks of RK_NB columns; with OpenMP each
 * thread owns a fixed range of unit blocks for the whole sequence and computes,
 * for its units, the recurrent product's columns of every gate, then the gates
 * and the new state, so one barrier per step suffices (two for kind 3).  The
 * product is a register-blocked loop (RK_RB rows x RK_NB columns of
 * accumulators) that the compiler vectorises over columns.
 *
 * float32 and float64 versions come from one body: the file includes itself
 * twice with RK_REAL defined (see the end of the first part).
 */
#ifndef RK_REAL

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define RK_LOOP_ABI_VERSION 1
/* Fewer multiply-adds per step than this run on one thread: B8 U128 LSTM (2^19) takes
 * ~7 us a step on one core and ~6 us on two, where a barrier per step then makes the
 * time depend on the other load of the machine. */
#define RK_PARALLEL_MIN (1 << 20)
#define RK_RB 6 /* rows of one register block of the product (at most 6: see rk_panel) */

int rk_rnn_abi_version(void) { return RK_LOOP_ABI_VERSION; }

#include "rk_exp.h"

static inline double rk_loop_exp_f64(double x) { return exp(x); }

/* the thread's share [*b0, *b1) of nblocks blocks */
static inline void rk_share(int64_t nblocks, int tid, int nt, int64_t *b0, int64_t *b1) {
    int64_t q = nblocks / nt, rem = nblocks % nt;
    *b0 = tid * q + (tid < rem ? tid : rem);
    *b1 = *b0 + q + (tid < rem ? 1 : 0);
}

/* The register block is chosen per instruction set at compile time (the library is
 * built with -march=native, so the compiler knows the CPU):
 *   AVX-512 (32 vector registers of 64 bytes): RK_RB 6 rows x RK_NV 4 vectors,
 *     24 accumulators + 4 panel vectors + 1 broadcast;
 *   AVX2 and others (16 registers of 32 bytes): RK_RB 6 rows x RK_NV 2 vectors,
 *     12 accumulators + 2 + 1.  With the AVX-512 block on AVX2 the 48 accumulators
 *     spilled to memory, and the loop ran at 0.2-0.4x torch.nn there.
 * RK_NB = RK_NV * (floats per vector) columns per block; RK_KC rows of the panel
 * (RK_KC x RK_NB, 32 KiB / 16 KiB) stay in the L1 cache while every row block uses them. */
#if defined(__AVX512F__)
#define RK_VEC_BYTES 64
#define RK_NV 4
#define RK_KC 128
#else
#define RK_VEC_BYTES 32
#define RK_NV 2
#define RK_KC 256
#endif

#define RK_REAL float
#define RK_NAME(name) name##_f32
#define RK_EXP rk_exp_f32
#define RK_NB (RK_NV * RK_VEC_BYTES / 4) /* columns of a block: 64 (AVX-512) or 16 */
#define RK_EXACT_TANH 0
#include __FILE__
#undef RK_REAL
#undef RK_NAME
#undef RK_EXP
#undef RK_NB
#undef RK_EXACT_TANH

#define RK_REAL double
#define RK_NAME(name) name##_f64
#define RK_EXP rk_loop_exp_f64
#define RK_NB (RK_NV * RK_VEC_BYTES / 8) /* 32 (AVX-512) or 8 */
#define RK_EXACT_TANH 1
#include __FILE__
#undef RK_REAL
#undef RK_NAME
#undef RK_EXP
#undef RK_NB
#undef RK_EXACT_TANH

#else /* ------------------------- the body, generic in RK_REAL ------------------------- */

#define REAL RK_REAL

/* y = f(x) in place over n values, f by activation code */
static void RK_NAME(rk_act)(int code, REAL *x, int64_t n) {
    switch (code) {
    case 1:
#if RK_EXACT_TANH
        /* tanh from the C library in double precision */
        for (int64_t k = 0; k < n; ++k) x[k] = tanh(x[k]);
#else
        /* tanh(x) = sign(x) (1 - e) / (1 + e),  e = exp(-2|x|) */
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) {
            REAL a = x[k] < 0 ? -x[k] : x[k];
            REAL e = RK_EXP(-2 * a);
            REAL t = (1 - e) / (1 + e);
            x[k] = x[k] < 0 ? -t : t;
        }
#endif
        break;
    case 2: /* sigmoid(x) = 1 / (1 + exp(-x)) */
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) x[k] = (REAL)1 / ((REAL)1 + RK_EXP(-x[k]));
        break;
    case 3: /* hard_sigmoid(x) = min(max(x + 3, 0), 6) / 6 */
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) {
            REAL v = x[k] + (REAL)3;
            v = v < 0 ? 0 : (v > 6 ? 6 : v);
            x[k] = v / (REAL)6;
        }
        break;
    case 4: /* relu(x) = max(x, 0) */
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) x[k] = x[k] > 0 ? x[k] : 0;
        break;
    default: /* linear */
        break;
    }
}

/* d = f'(x) expressed through the output y = f(x), over n values */
static void RK_NAME(rk_dact)(int code, const REAL *y, REAL *d, int64_t n) {
    switch (code) {
    case 1: /* tanh' = 1 - y^2 */
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) d[k] = (REAL)1 - y[k] * y[k];
        break;
    case 2: /* sigmoid' = y (1 - y) */
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) d[k] = y[k] * ((REAL)1 - y[k]);
        break;
    case 3: /* hard_sigmoid' = 1/6 inside (0, 1), else 0 */
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) d[k] = (y[k] > 0 && y[k] < 1) ? (REAL)1 / (REAL)6 : 0;
        break;
    case 4: /* relu' = [y > 0] */
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) d[k] = y[k] > 0 ? (REAL)1 : 0;
        break;
    default: /* linear' = 1 */
        for (int64_t k = 0; k < n; ++k) d[k] = 1;
        break;
    }
}

/* one vector register of REALs (16 floats / 8 doubles with AVX-512, 8 / 4 with AVX2);
 * a panel row of RK_NB columns is RK_NV of them */
typedef REAL RK_NAME(rk_vec) __attribute__((vector_size(RK_VEC_BYTES)));

/* C[m, 0:RK_NB] = base[m, 0:RK_NB] (or 0) + sum_k A[m, k] Bm[k, 0:RK_NB] for `rows` rows
 * (a constant where it is inlined): the register block, RK_NV * rows vector accumulators.
 * Per k: RK_NV loads of the panel row, one broadcast per row, RK_NV * rows multiply-adds. */
static inline __attribute__((always_inline)) void RK_NAME(rk_tile_full)(
    const int rows, const REAL *A, int64_t lda, const REAL *Bm, int64_t ldb, int64_t K,
    const REAL *base, int64_t ldbase, REAL *C, int64_t ldc) {
    typedef RK_NAME(rk_vec) vec;
    const int VW = (int)(sizeof(vec) / sizeof(REAL));
    vec acc[RK_RB][RK_NV];
    for (int r = 0; r < rows; ++r)
        for (int v = 0; v < RK_NV; ++v) {
            if (base) memcpy(&acc[r][v], base + r * ldbase + v * VW, sizeof(vec));
            else acc[r][v] = (vec){0};
        }
    for (int64_t k = 0; k < K; ++k) {
        vec b[RK_NV];
        for (int v = 0; v < RK_NV; ++v) memcpy(&b[v], Bm + k * ldb + v * VW, sizeof(vec));
        for (int r = 0; r < rows; ++r) {
            const REAL a = A[r * lda + k];
            for (int v = 0; v < RK_NV; ++v) acc[r][v] += a * b[v];
        }
    }
    for (int r = 0; r < rows; ++r)
        for (int v = 0; v < RK_NV; ++v) memcpy(C + r * ldc + v * VW, &acc[r][v], sizeof(vec));
}

/* the same for any rows <= RK_RB and columns n <= RK_NB (edges) */
static void RK_NAME(rk_tile_edge)(int64_t rows, int64_t n, const REAL *A, int64_t lda, const REAL *Bm, int64_t ldb,
                                  int64_t K, const REAL *base, int64_t ldbase, REAL *C, int64_t ldc) {
    REAL acc[RK_NB];
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < n; ++j) acc[j] = base ? base[r * ldbase + j] : 0;
        for (int64_t k = 0; k < K; ++k) {
            REAL a = A[r * lda + k];
            const REAL *b = Bm + k * ldb;
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) acc[j] += a * b[j];
        }
        for (int64_t j = 0; j < n; ++j) C[r * ldc + j] = acc[j];
    }
}

/* C[:, 0:n] = base[:, 0:n] (or 0) + A (M, K) Bm[:, 0:n], with n <= RK_NB (one column block) */
static void RK_NAME(rk_panel)(int64_t M, int64_t n, const REAL *A, int64_t lda, const REAL *Bm, int64_t ldb, int64_t K,
                              const REAL *base, int64_t ldbase, REAL *C, int64_t ldc) {
    if (n == RK_NB) {
        /* K in chunks whose part of the panel (RK_KC x RK_NB) stays in the L1 cache while
         * every row block uses it; the chunks after the first add onto C */
        for (int64_t k0 = 0; k0 < K; k0 += RK_KC) {
            const int64_t kc = K - k0 < RK_KC ? K - k0 : RK_KC;
            const REAL *bs = k0 == 0 ? base : C;
            const int64_t lds = k0 == 0 ? ldbase : ldc;
            const REAL *Ak = A + k0, *Bk = Bm + k0 * ldb;
            int64_t m = 0;
#define RK_TILE(rows) RK_NAME(rk_tile_full)(rows, Ak + m * lda, lda, Bk, ldb, kc, bs ? bs + m * lds : NULL, lds, C + m * ldc, ldc)
            for (; m + RK_RB <= M; m += RK_RB) RK_TILE(RK_RB);
            switch (M - m) { /* the last rows, fewer than RK_RB */
            case 5: RK_TILE(5); break;
            case 4: RK_TILE(4); break;
            case 3: RK_TILE(3); break;
            case 2: RK_TILE(2); break;
            case 1: RK_TILE(1); break;
            default: break;
            }
#undef RK_TILE
        }
        return;
    }
    for (int64_t m = 0; m < M; m += RK_RB) {
        int64_t rows = M - m < RK_RB ? M - m : RK_RB;
        RK_NAME(rk_tile_edge)(rows, n, A + m * lda, lda, Bm, ldb, K, base ? base + m * ldbase : NULL, ldbase, C + m * ldc, ldc);
    }
}

/* Copy n <= RK_NB columns from c0 on of a matrix (or of its transpose) into a
 * contiguous (K, RK_NB) panel, zero beyond n: the product then reads its weights
 * as one stream, where rows of a wide matrix one page apart would evict each other
 * from the L1 cache.
 *   trans = 0: panel[k][j] = src[k * ld + c0 + j]     (src is (K, ld))
 *   trans = 1: panel[k][j] = src[(c0 + j) * ld + k]   (src is (.., ld), ld >= K) */
static void RK_NAME(rk_pack)(const REAL *src, int64_t ld, int64_t K, int64_t c0, int64_t n, int trans, REAL *panel) {
    for (int64_t k = 0; k < K; ++k) {
        REAL *d = panel + k * RK_NB;
        for (int64_t j = 0; j < RK_NB; ++j) d[j] = j < n ? (trans ? src[(c0 + j) * ld + k] : src[k * ld + c0 + j]) : 0;
    }
}

/* The gates and the new state of step t for the units [u0, u0 + n) of every row, the
 * recurrent product being done: z (B, G*U) is, for kinds 0 and 1, the pre-activation
 * xp_t + hr W^T (it may be A_t itself); for kind 2 the product p = hr W^T; for kind 3 it
 * is A_t holding x_{r,z} + hr W_{r,z}^T, and this computes r, z and r hr only. */
static void RK_NAME(rk_fwd_cells)(int kind, int64_t t, int64_t B, int64_t U, const REAL *z, const REAL *x,
                                  const REAL *b_hn, const uint8_t *m, int act, int rec_act, REAL *Hs, REAL *Cs,
                                  REAL *A, REAL *E, const REAL *HR, int saved, int64_t u0, int64_t n) {
    const int64_t G = kind == 0 ? 1 : (kind == 1 ? 4 : 3);
    const int64_t GU = G * U;
    /* where step t's A, E and cell states are: all steps kept, or one (two for Cs) reused */
    const int64_t ta = saved ? t : 0, tc0 = saved ? t : (t & 1), tc1 = saved ? t + 1 : ((t + 1) & 1);
    const REAL *hp = Hs + t * B * U;  /* h_{t-1} (B, U) */
    REAL *hn = Hs + (t + 1) * B * U;  /* h_t (B, U) */
    const REAL *hr = HR ? HR + t * B * U : hp;
    REAL *a = A + ta * B * GU;
    const REAL *work = z;
    if ((kind == 0 || kind == 1) && z != a) /* the pre-activations into the gate buffer */
        for (int64_t b = 0; b < B; ++b)
            for (int64_t g = 0; g < G; ++g) memcpy(a + b * GU + g * U + u0, z + b * GU + g * U + u0, (size_t)n * sizeof(REAL));
    for (int64_t b = 0; b < B; ++b) {
        const int valid = m ? m[b] != 0 : 1;
        REAL *ar = a + b * GU + u0;
        const REAL *hpr = hp + b * U + u0;
        REAL *hnr = hn + b * U + u0;
        if (kind == 0) {
            /* h_t = phi(z) */
            RK_NAME(rk_act)(act, ar, n);
            for (int64_t k = 0; k < n; ++k) hnr[k] = valid ? ar[k] : hpr[k];
        } else if (kind == 1) {
            const REAL *cp = Cs + tc0 * B * U + b * U + u0;
            REAL *cn = Cs + tc1 * B * U + b * U + u0;
            REAL *tc = E + ta * B * U + b * U + u0;
            /* i = s(z_i), f = s(z_f), g = phi(z_g), o = s(z_o) */
            RK_NAME(rk_act)(rec_act, ar, n);
            RK_NAME(rk_act)(rec_act, ar + U, n);
            RK_NAME(rk_act)(act, ar + 2 * U, n);
            RK_NAME(rk_act)(rec_act, ar + 3 * U, n);
            /* c_t = f c_{t-1} + i g */
#pragma omp simd
            for (int64_t k = 0; k < n; ++k) tc[k] = ar[U + k] * cp[k] + ar[k] * ar[2 * U + k];
            if (valid) memcpy(cn, tc, (size_t)n * sizeof(REAL));
            else memcpy(cn, cp, (size_t)n * sizeof(REAL));
            /* h_t = o phi(c_t) */
            RK_NAME(rk_act)(act, tc, n);
#pragma omp simd
            for (int64_t k = 0; k < n; ++k) hnr[k] = valid ? ar[3 * U + k] * tc[k] : hpr[k];
        } else if (kind == 2) {
            const REAL *xr = x + b * GU + u0;
            const REAL *pr = work + b * GU + u0;
            REAL *er = E + ta * B * U + b * U + u0;
            /* r = s(x_r + p_r), z = s(x_z + p_z) */
#pragma omp simd
            for (int64_t k = 0; k < n; ++k) {
                ar[k] = xr[k] + pr[k];
                ar[U + k] = xr[U + k] + pr[U + k];
            }
            RK_NAME(rk_act)(rec_act, ar, n);
            RK_NAME(rk_act)(rec_act, ar + U, n);
            /* n = phi(x_n + r (p_n + b_hn)) */
#pragma omp simd
            for (int64_t k = 0; k < n; ++k) {
                er[k] = b_hn ? pr[2 * U + k] + b_hn[u0 + k] : pr[2 * U + k];
                ar[2 * U + k] = xr[2 * U + k] + ar[k] * er[k];
            }
            RK_NAME(rk_act)(act, ar + 2 * U, n);
            /* h_t = n + z (h_{t-1} - n) */
#pragma omp simd
            for (int64_t k = 0; k < n; ++k)
                hnr[k] = valid ? ar[2 * U + k] + ar[U + k] * (hpr[k] - ar[2 * U + k]) : hpr[k];
        } else {
            const REAL *hrr = hr + b * U + u0;
            REAL *er = E + ta * B * U + b * U + u0;
            /* r = s(.), z = s(.);  r hr, the input of the n product */
            RK_NAME(rk_act)(rec_act, ar, n);
            RK_NAME(rk_act)(rec_act, ar + U, n);
#pragma omp simd
            for (int64_t k = 0; k < n; ++k) er[k] = ar[k] * hrr[k];
        }
    }
}

/* Forward over all T steps; see the top of the file for the arguments' meaning.
 *   xp (T, B, G*U); w = W (G*U, U) contiguous; b_hn (U) or NULL (kind 2);
 *   rmask (B, U) or NULL; mask (T, B) or NULL; work (B, G*U) scratch.
 * Returns 0. */
int RK_NAME(rk_rnn_forward)(int kind, int64_t T, int64_t B, int64_t U, const REAL *xp, const REAL *w,
                            const REAL *b_hn, const REAL *rmask, const uint8_t *mask, int act, int rec_act,
                            REAL *Hs, REAL *Cs, REAL *A, REAL *E, REAL *HR, REAL *work, int saved, int threads) {
    const int64_t G = kind == 0 ? 1 : (kind == 1 ? 4 : 3);
    const int64_t GU = G * U;
    const int64_t nblocks = (U + RK_NB - 1) / RK_NB;
    int nt = threads < 1 ? 1 : threads;
    if (nt > nblocks) nt = (int)nblocks;
    if (B * GU * U < RK_PARALLEL_MIN) nt = 1;
    /* W^T in panels: wp[(g * nblocks + blk) * U * RK_NB ...] = columns g*U + blk*RK_NB... of W^T */
    REAL *wp = (REAL *)malloc((size_t)(G * nblocks * U * RK_NB) * sizeof(REAL));
    if (!wp) return -1;
    for (int64_t g = 0; g < G; ++g)
        for (int64_t blk = 0; blk < nblocks; ++blk) {
            const int64_t u0 = blk * RK_NB, n = U - u0 < RK_NB ? U - u0 : RK_NB;
            RK_NAME(rk_pack)(w, U, U, g * U + u0, n, 1, wp + (g * nblocks + blk) * U * RK_NB);
        }
#define RK_WP(g, blk) (wp + ((g) * nblocks + (blk)) * U * RK_NB)
    if (rmask) /* hr_0 = h_0 rmask */
        for (int64_t k = 0; k < B * U; ++k) HR[k] = Hs[k] * rmask[k];
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = 0, nth = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        int64_t blk0, blk1;
        rk_share(nblocks, tid, nth, &blk0, &blk1);
        for (int64_t t = 0; t < T; ++t) {
            const REAL *x = xp + t * B * GU;                      /* (B, G*U) */
            const REAL *hp = Hs + t * B * U;                      /* h_{t-1} (B, U) */
            REAL *hn = Hs + (t + 1) * B * U;                      /* h_t (B, U) */
            const REAL *hr = rmask ? HR + t * B * U : hp;         /* h_{t-1} after dropout */
            REAL *a = A + (saved ? t : 0) * B * GU;               /* activated gates (B, G*U) */
            const uint8_t *m = mask ? mask + t * B : NULL;
            for (int64_t blk = blk0; blk < blk1; ++blk) {
                const int64_t u0 = blk * RK_NB, n = U - u0 < RK_NB ? U - u0 : RK_NB;
                if (kind == 0 || kind == 1) {
                    /* z = xp_t + hr W^T, written into the gate buffer, for each gate's columns */
                    for (int64_t g = 0; g < G; ++g)
                        RK_NAME(rk_panel)(B, n, hr, U, RK_WP(g, blk), RK_NB, U, x + g * U + u0, GU, a + g * U + u0, GU);
                } else if (kind == 2) {
                    /* p = hr W^T (no input added) */
                    for (int64_t g = 0; g < 3; ++g)
                        RK_NAME(rk_panel)(B, n, hr, U, RK_WP(g, blk), RK_NB, U, NULL, 0, work + g * U + u0, GU);
                } else {
                    /* r and z parts: x_{r,z} + hr W_{r,z}^T */
                    for (int64_t g = 0; g < 2; ++g)
                        RK_NAME(rk_panel)(B, n, hr, U, RK_WP(g, blk), RK_NB, U, x + g * U + u0, GU, a + g * U + u0, GU);
                }
                RK_NAME(rk_fwd_cells)(kind, t, B, U, kind == 2 ? work : a, x, b_hn, m, act, rec_act, Hs, Cs, A, E, HR, saved, u0, n);
            }
            if (kind == 3) {
#pragma omp barrier
                for (int64_t blk = blk0; blk < blk1; ++blk) {
                    const int64_t u0 = blk * RK_NB, n = U - u0 < RK_NB ? U - u0 : RK_NB;
                    /* n = phi(x_n + (r hr) W_n^T) */
                    RK_NAME(rk_panel)(B, n, E + (saved ? t : 0) * B * U, U, RK_WP(2, blk), RK_NB, U, x + 2 * U + u0, GU, a + 2 * U + u0, GU);
                    for (int64_t b = 0; b < B; ++b) {
                        const int valid = m ? m[b] != 0 : 1;
                        REAL *ar = a + b * GU + u0;
                        const REAL *hpr = hp + b * U + u0;
                        REAL *hnr = hn + b * U + u0;
                        RK_NAME(rk_act)(act, ar + 2 * U, n);
                        /* h_t = n + z (h_{t-1} - n) */
#pragma omp simd
                        for (int64_t k = 0; k < n; ++k)
                            hnr[k] = valid ? ar[2 * U + k] + ar[U + k] * (hpr[k] - ar[2 * U + k]) : hpr[k];
                    }
                }
            }
            if (rmask && t + 1 < T) {
                /* hr_t = h_t rmask, for this thread's units */
                for (int64_t blk = blk0; blk < blk1; ++blk) {
                    const int64_t u0 = blk * RK_NB, n = U - u0 < RK_NB ? U - u0 : RK_NB;
                    for (int64_t b = 0; b < B; ++b) {
                        REAL *d = HR + (t + 1) * B * U + b * U + u0;
                        const REAL *s = hn + b * U + u0, *q = rmask + b * U + u0;
                        for (int64_t k = 0; k < n; ++k) d[k] = s[k] * q[k];
                    }
                }
            }
#pragma omp barrier
        }
    }
#undef RK_WP
    free(wp);
    return 0;
}

/* The gate gradients of step t for the units [u0, u0 + n) of every row: adds dH_t
 * to dh (then dL/dh_t), writes dZ_t (and dP_t for kind 2) and updates dc (LSTM), and
 * leaves in dh what reaches h_{t-1} other than through the recurrent product: the
 * direct term dh z of a GRU, zero otherwise, or all of dh at a masked step. */
static void RK_NAME(rk_bwd_cells)(int kind, int64_t t, int64_t B, int64_t U, int act, int rec_act, const uint8_t *m,
                                  const REAL *Hs, const REAL *Cs, const REAL *A, const REAL *E, const REAL *dH,
                                  REAL *dh, REAL *dc, REAL *dZ, REAL *dP, int64_t u0, int64_t n) {
    const int64_t G = kind == 0 ? 1 : (kind == 1 ? 4 : 3);
    const int64_t GU = G * U;
    const REAL *a = A + t * B * GU;
    const REAL *hp = Hs + t * B * U;
    const REAL *g_in = dH + t * B * U;
    REAL *dz = dZ + t * B * GU;
    REAL d1[RK_NB], d2[RK_NB], d3[RK_NB], d4[RK_NB];
    for (int64_t b = 0; b < B; ++b) {
        const int valid = m ? m[b] != 0 : 1;
        REAL *dhr = dh + b * U + u0;
        const REAL *gr = g_in + b * U + u0;
        /* dL/dh_t = (from step t+1) + dH_t */
        for (int64_t k = 0; k < n; ++k) dhr[k] += gr[k];
        REAL *dzr = dz + b * GU + u0;
        const REAL *ar = a + b * GU + u0;
        if (!valid) { /* the state passes through unchanged: no gate gradient */
            for (int64_t g = 0; g < G; ++g) memset(dzr + g * U, 0, (size_t)n * sizeof(REAL));
            if (kind == 2) for (int64_t g = 0; g < 3; ++g) memset(dP + t * B * GU + b * GU + u0 + g * U, 0, (size_t)n * sizeof(REAL));
            continue;
        }
        if (kind == 0) {
            /* dz = dh phi'(y) */
            RK_NAME(rk_dact)(act, ar, d1, n);
            for (int64_t k = 0; k < n; ++k) { dzr[k] = dhr[k] * d1[k]; dhr[k] = 0; }
        } else if (kind == 1) {
            const REAL *cp = Cs + t * B * U + b * U + u0;
            const REAL *tc = E + t * B * U + b * U + u0;
            REAL *dcr = dc + b * U + u0;
            RK_NAME(rk_dact)(act, tc, d1, n);          /* phi'(c_t) */
            RK_NAME(rk_dact)(rec_act, ar, d2, n);      /* s'(i) */
            RK_NAME(rk_dact)(rec_act, ar + U, d3, n);  /* s'(f) */
            RK_NAME(rk_dact)(act, ar + 2 * U, d4, n);  /* phi'(g) */
#pragma omp simd
            for (int64_t k = 0; k < n; ++k) {
                /* dc += dh o phi'(c_t) */
                REAL c = dcr[k] + dhr[k] * ar[3 * U + k] * d1[k];
                /* dz_i = dc g s'(i), dz_f = dc c_{t-1} s'(f), dz_g = dc i phi'(g) */
                dzr[k] = c * ar[2 * U + k] * d2[k];
                dzr[U + k] = c * cp[k] * d3[k];
                dzr[2 * U + k] = c * ar[k] * d4[k];
                /* dc_{t-1} = dc f */
                dcr[k] = c * ar[U + k];
            }
            RK_NAME(rk_dact)(rec_act, ar + 3 * U, d2, n); /* s'(o) */
            /* dz_o = dh phi(c_t) s'(o) */
            for (int64_t k = 0; k < n; ++k) { dzr[3 * U + k] = dhr[k] * tc[k] * d2[k]; dhr[k] = 0; }
        } else {
            const REAL *hpr = hp + b * U + u0;
            RK_NAME(rk_dact)(act, ar + 2 * U, d1, n);  /* phi'(n) */
            RK_NAME(rk_dact)(rec_act, ar + U, d2, n);  /* s'(z) */
#pragma omp simd
            for (int64_t k = 0; k < n; ++k) {
                /* h_t = n + z (h_{t-1} - n):  dx_n = dh (1 - z) phi'(n),  dx_z = dh (h_{t-1} - n) s'(z) */
                dzr[2 * U + k] = dhr[k] * ((REAL)1 - ar[U + k]) * d1[k];
                dzr[U + k] = dhr[k] * (hpr[k] - ar[2 * U + k]) * d2[k];
                /* the direct part dL/dh_{t-1} = dh z */
                dhr[k] = dhr[k] * ar[U + k];
            }
            if (kind == 2) {
                const REAL *er = E + t * B * U + b * U + u0;
                REAL *dpr = dP + t * B * GU + b * GU + u0;
                RK_NAME(rk_dact)(rec_act, ar, d3, n); /* s'(r) */
#pragma omp simd
                for (int64_t k = 0; k < n; ++k) {
                    /* n = phi(x_n + r (p_n + b_hn)):  dx_r = dx_n (p_n + b_hn) s'(r),  dp_n = dx_n r */
                    dzr[k] = dzr[2 * U + k] * er[k] * d3[k];
                    dpr[k] = dzr[k];
                    dpr[U + k] = dzr[U + k];
                    dpr[2 * U + k] = dzr[2 * U + k] * ar[k];
                }
            }
        }
    }
}

/* Backward over all T steps, in reverse.
 *   w = W (G*U, U) contiguous; dH (T, B, U) the gradient of the states Hs[1:];
 *   dh (B, U): in, zero or the gradient of h_T beyond dH; out, dL/dh_0;
 *   dc (B, U) LSTM: in, dL/dc_T; out, dL/dc_0;
 *   dZ (T, B, G*U) out; dP (T, B, 3U) out, kind 2 only; work (B, U) scratch;
 *   the saved tensors as written by the forward.
 * Returns 0. */
int RK_NAME(rk_rnn_backward)(int kind, int64_t T, int64_t B, int64_t U, const REAL *w, const REAL *rmask,
                             const uint8_t *mask, int act, int rec_act, const REAL *Hs, const REAL *Cs, const REAL *A,
                             const REAL *E, const REAL *HR, const REAL *dH, REAL *dh, REAL *dc, REAL *dZ, REAL *dP,
                             REAL *work, int threads) {
    const int64_t G = kind == 0 ? 1 : (kind == 1 ? 4 : 3);
    const int64_t GU = G * U;
    const int64_t nblocks = (U + RK_NB - 1) / RK_NB;
    int nt = threads < 1 ? 1 : threads;
    if (nt > nblocks) nt = (int)nblocks;
    if (B * GU * U < RK_PARALLEL_MIN) nt = 1;
    /* W in panels of RK_NB columns: wp[blk * G*U * RK_NB ...] = W[:, blk*RK_NB ...] */
    REAL *wp = (REAL *)malloc((size_t)(nblocks * GU * RK_NB) * sizeof(REAL));
    if (!wp) return -1;
    for (int64_t blk = 0; blk < nblocks; ++blk) {
        const int64_t u0 = blk * RK_NB, n = U - u0 < RK_NB ? U - u0 : RK_NB;
        RK_NAME(rk_pack)(w, U, GU, u0, n, 0, wp + blk * GU * RK_NB);
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = 0, nth = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        int64_t blk0, blk1;
        rk_share(nblocks, tid, nth, &blk0, &blk1);
        REAL d3[RK_NB];
        for (int64_t t = T - 1; t >= 0; --t) {
            const REAL *a = A + t * B * GU;
            const REAL *hp = Hs + t * B * U;
            const REAL *hr = rmask ? HR + t * B * U : hp;
            REAL *dz = dZ + t * B * GU;
            const uint8_t *m = mask ? mask + t * B : NULL;
            /* 1. the gate gradients of this thread's units; dh keeps what reaches
             *    h_{t-1} other than through the product (all of it at a masked step) */
            for (int64_t blk = blk0; blk < blk1; ++blk) {
                const int64_t u0 = blk * RK_NB, n = U - u0 < RK_NB ? U - u0 : RK_NB;
                RK_NAME(rk_bwd_cells)(kind, t, B, U, act, rec_act, m, Hs, Cs, A, E, dH, dh, dc, dZ, dP, u0, n);
            }
#pragma omp barrier
            if (kind == 3) {
                /* d(r hr) = dx_n W_n, then dx_r = d(r hr) hr s'(r) */
                for (int64_t blk = blk0; blk < blk1; ++blk) {
                    const int64_t u0 = blk * RK_NB, n = U - u0 < RK_NB ? U - u0 : RK_NB;
                    RK_NAME(rk_panel)(B, n, dz + 2 * U, GU, wp + blk * GU * RK_NB + 2 * U * RK_NB, RK_NB, U, NULL, 0, work + u0, U);
                    for (int64_t b = 0; b < B; ++b) {
                        const REAL *ar = a + b * GU + u0;
                        const REAL *hrr = hr + b * U + u0;
                        const REAL *drh = work + b * U + u0;
                        REAL *dzr = dz + b * GU + u0;
                        RK_NAME(rk_dact)(rec_act, ar, d3, n);
                        for (int64_t k = 0; k < n; ++k) dzr[k] = drh[k] * hrr[k] * d3[k];
                    }
                }
#pragma omp barrier
            }
            /* 2. dL/dh_{t-1} = direct + rmask (dz W  [+ d(r hr) r for kind 3]), this thread's units */
            const REAL *src = kind == 2 ? dP + t * B * GU : dz;
            const int64_t Kp = kind == 3 ? 2 * U : GU;
            for (int64_t blk = blk0; blk < blk1; ++blk) {
                const int64_t u0 = blk * RK_NB, n = U - u0 < RK_NB ? U - u0 : RK_NB;
                if (!rmask && kind != 3) {
                    RK_NAME(rk_panel)(B, n, src, GU, wp + blk * GU * RK_NB, RK_NB, Kp, dh + u0, U, dh + u0, U);
                } else {
                    REAL *tmp = work; /* the product; kind 3 adds it to d(r hr) r, already there */
                    if (kind == 3) {
                        /* work = d(r hr) r + dz_{r,z} W_{r,z} */
                        for (int64_t b = 0; b < B; ++b) {
                            const REAL *ar = a + b * GU + u0;
                            REAL *wr = work + b * U + u0;
                            for (int64_t k = 0; k < n; ++k) wr[k] *= ar[k];
                        }
                        RK_NAME(rk_panel)(B, n, src, GU, wp + blk * GU * RK_NB, RK_NB, Kp, work + u0, U, tmp + u0, U);
                    } else {
                        RK_NAME(rk_panel)(B, n, src, GU, wp + blk * GU * RK_NB, RK_NB, Kp, NULL, 0, tmp + u0, U);
                    }
                    for (int64_t b = 0; b < B; ++b) {
                        REAL *dhr = dh + b * U + u0;
                        const REAL *tr = tmp + b * U + u0;
                        if (rmask) {
                            const REAL *q = rmask + b * U + u0;
                            for (int64_t k = 0; k < n; ++k) dhr[k] += tr[k] * q[k];
                        } else {
                            for (int64_t k = 0; k < n; ++k) dhr[k] += tr[k];
                        }
                    }
                }
            }
            /* no barrier: the next step's part 1 reads only this thread's units of dh */
        }
    }
    free(wp);
    return 0;
}

#undef REAL

#endif /* RK_REAL */
