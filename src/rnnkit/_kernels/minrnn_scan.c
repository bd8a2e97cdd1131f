/*
 * minrnn_scan.c -- the fused time scan of minGRU and minLSTM on the CPU.
 *
 * Plain C (no torch headers), called from Python through ctypes by
 * rnnkit/_kernels/__init__.py, which compiles it at first use with
 *     cc -O3 -march=native -fno-trapping-math -fopenmp -shared -fPIC minrnn_scan.c -o <cache>.so -lm
 *
 * Both cells are a linear recurrence over time whose coefficients depend on the
 * input only:
 *     h_t = a_t * h_{t-1} + b_t,   elementwise over the units.
 * The caller computes every gate pre-activation of every step with one matrix
 * product, P = x W_ih^T + b_ih, laid out (B, T, G*U) contiguous with the gate
 * blocks side by side inside each step.  One forward pass over time applies the
 * gate nonlinearities and the recurrence; one reverse pass turns the gradient of
 * the outputs into the gradient of P (and of h_0), recomputing the cheap
 * nonlinearities from P instead of storing them.
 *
 *   kind 0, minGRU (gates z, h; G = 2):
 *       z = sigma(p_z),  ht = g(p_h),  h_t = (1 - z) h_{t-1} + z ht
 *   kind 1, minLSTM (gates f, i, h; G = 3):
 *       f = sigma(p_f),  i = sigma(p_i),  ht = g(p_h),
 *       a = f / (f + i),  h_t = a h_{t-1} + (1 - a) ht
 *   with the positive activation g(v) = v + 1/2 for v >= 0 and sigma(v) for v < 0.
 *
 * Masks (B, T) of bytes, 1 = a real step: a masked step keeps the state
 * (a = 1, b = 0).  The outputs Y equal the states H except at masked steps,
 * where Y is zero before a row's first real step (and everywhere masked when
 * zero_output is set); elsewhere a masked step's state is the last valid one,
 * which is exactly Keras' "repeat the last output" rule.
 *
 * Parallel over batch rows (and over blocks of units when there are fewer rows
 * than threads) with OpenMP; each inner loop runs over contiguous units and is
 * written so that the compiler vectorises it (an exp of our own for float32,
 * since the C library's expf does not vectorise without -ffast-math).
 *
 * The float32 and float64 versions are generated from one body: this file
 * includes itself twice with RK_REAL defined (see the end of the first part).
 */
#ifndef RK_REAL

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __linux__
#include <sys/mman.h>
#endif

#define RK_ABI_VERSION 1

int rk_minrnn_abi_version(void) { return RK_ABI_VERSION; }

#include "rk_exp.h"

static inline double rk_exp_f64(double x) { return exp(x); }

/* Ask the kernel for transparent huge pages on the 2 MiB-aligned inside of
 * [ptr, ptr + nbytes): a large tensor that is about to be written for the first
 * time then costs a few page faults instead of one per 4 KiB page.  Advisory
 * only; returns 0 when the advice was given, -1 otherwise. */
int rk_advise_hugepages(void *ptr, int64_t nbytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t start = ((uintptr_t)ptr + huge - 1) & ~(huge - 1);
    uintptr_t end = ((uintptr_t)ptr + (uintptr_t)nbytes) & ~(huge - 1);
    if (end <= start) return -1;
    return madvise((void *)start, end - start, MADV_HUGEPAGE) == 0 ? 0 : -1;
#else
    (void)ptr;
    (void)nbytes;
    return -1;
#endif
}

/* How to split the work: `blocks` blocks of `width` units per row, so that
 * rows * blocks >= threads when the units allow it (widths stay multiples of 16,
 * a whole vector register of floats). */
static void rk_split(int64_t B, int64_t U, int threads, int64_t *blocks, int64_t *width) {
    int64_t nb = 1;
    if (B < threads) nb = (threads + B - 1) / B;
    int64_t w = (U + nb - 1) / nb;
    w = (w + 15) / 16 * 16;
    if (w < 16) w = 16;
    *width = w;
    *blocks = (U + w - 1) / w;
}

/* first valid step of row `row` of a (B, T) byte mask, T when none */
static int64_t rk_first_valid(const uint8_t *mask, int64_t row, int64_t T) {
    const uint8_t *m = mask + row * T;
    for (int64_t t = 0; t < T; ++t)
        if (m[t]) return t;
    return T;
}

/* ---- instantiate the float32 and float64 kernels from the body below ---- */
#define RK_REAL float
#define RK_NAME(name) name##_f32
#define RK_EXP rk_exp_f32
#include __FILE__
#undef RK_REAL
#undef RK_NAME
#undef RK_EXP

#define RK_REAL double
#define RK_NAME(name) name##_f64
#define RK_EXP rk_exp_f64
#include __FILE__
#undef RK_REAL
#undef RK_NAME
#undef RK_EXP

#else /* ------------------------- the body, generic in RK_REAL ------------------------- */

typedef RK_REAL RK_NAME(real);
#define REAL RK_NAME(real)

/* sigma(v) = 1 / (1 + e^{-v}), from e^{-|v|} so that nothing overflows */
static inline REAL RK_NAME(rk_sigmoid)(REAL v) {
    REAL e = RK_EXP(v < 0 ? v : -v);
    REAL s = (REAL)1 / ((REAL)1 + e);
    return v >= 0 ? s : e * s;
}

/* the positive activation g(v) = v + 1/2 (v >= 0), sigma(v) (v < 0); *dg = g'(v) */
static inline REAL RK_NAME(rk_positive)(REAL v, REAL *dg) {
    REAL e = RK_EXP(v < 0 ? v : (REAL)0);
    REAL s = e / ((REAL)1 + e);
    *dg = v >= 0 ? (REAL)1 : s * ((REAL)1 - s);
    return v >= 0 ? v + (REAL)0.5 : s;
}

/* minLSTM's normalised forget gate a = f / (f + i) with f = sigma(p_f), i = sigma(p_i),
 * and the two factors of its gradient.  With A_x = 1 + e^{-p_x} = 1 / sigma(p_x),
 * a = A_i / (A_i + A_f); both A are scaled by e^{-k}, k = max(0, -p_f, -p_i), so
 * every exponent is <= 0 and the sum is >= 1.  Then 1 - f = e^{-p_f} / A_f, and
 *     da/dp_f = a (1 - a) (1 - f),   da/dp_i = -a (1 - a) (1 - i). */
static inline REAL RK_NAME(rk_forget)(REAL pf, REAL pi, REAL *one_minus_f, REAL *one_minus_i) {
    REAL k = (REAL)0;
    k = -pf > k ? -pf : k;
    k = -pi > k ? -pi : k;
    REAL base = RK_EXP(-k);
    REAL ef = RK_EXP(-pf - k), ei = RK_EXP(-pi - k);
    REAL af = base + ef, ai = base + ei;
    *one_minus_f = ef / af;
    *one_minus_i = ei / ai;
    return ai / (ai + af);
}

/* Forward: states H (B, T, U) and, when Y is not NULL, outputs Y (B, T, U) with
 * the mask rule; hT (B, U) = the state after the last step. */
int RK_NAME(rk_minrnn_forward)(int kind, int64_t B, int64_t T, int64_t U, const REAL *P, const REAL *h0,
                              const uint8_t *mask, int zero_output, REAL *H, REAL *Y, REAL *hT, int threads) {
    if (kind != 0 && kind != 1) return -1;
    const int64_t G = kind == 0 ? 2 : 3;
    if (threads < 1) threads = 1;
    int64_t blocks, width;
    rk_split(B, U, threads, &blocks, &width);
    const int64_t tasks = B * blocks;

#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
        const int64_t row = task / blocks;
        const int64_t u0 = (task % blocks) * width;
        const int64_t n = (u0 + width < U ? u0 + width : U) - u0;
        const REAL *h_prev = h0 + row * U + u0;  /* h_{t-1}      (n,) */
        int seen = 0;                              /* a real step happened in this row */
        for (int64_t t = 0; t < T; ++t) {
            const int64_t step = row * T + t;
            const REAL *p = P + step * G * U + u0; /* gate pre-activations, block g at p + g U */
            REAL *h = H + step * U + u0;
            REAL *y = Y ? Y + step * U + u0 : NULL;
            if (mask && !mask[step]) {
                /* masked: the state stays; the output repeats it after the first real step */
                memcpy(h, h_prev, (size_t)n * sizeof(REAL));
                if (y) {
                    if (seen && !zero_output) memcpy(y, h_prev, (size_t)n * sizeof(REAL));
                    else memset(y, 0, (size_t)n * sizeof(REAL));
                }
                h_prev = h;
                continue;
            }
            seen = 1;
            if (kind == 0) {
#pragma omp simd
                for (int64_t u = 0; u < n; ++u) {
                    REAL dg;
                    /* z_t = sigma(p_z) */
                    REAL z = RK_NAME(rk_sigmoid)(p[u]);
                    /* ht_t = g(p_h) */
                    REAL cand = RK_NAME(rk_positive)(p[U + u], &dg);
                    /* h_t = (1 - z_t) h_{t-1} + z_t ht_t */
                    h[u] = h_prev[u] + z * (cand - h_prev[u]);
                }
            } else {
#pragma omp simd
                for (int64_t u = 0; u < n; ++u) {
                    REAL dg, omf, omi;
                    /* f'_t = f_t / (f_t + i_t),  i'_t = 1 - f'_t */
                    REAL a = RK_NAME(rk_forget)(p[u], p[U + u], &omf, &omi);
                    /* ht_t = g(p_h) */
                    REAL cand = RK_NAME(rk_positive)(p[2 * U + u], &dg);
                    /* h_t = f'_t h_{t-1} + i'_t ht_t */
                    h[u] = cand + a * (h_prev[u] - cand);
                }
            }
            if (y) memcpy(y, h, (size_t)n * sizeof(REAL));
            h_prev = h;
        }
        memcpy(hT + row * U + u0, h_prev, (size_t)n * sizeof(REAL));
    }
    return 0;
}

/* Backward: from gY (the gradient of Y, element (b, t, u) at gY[b sb + t st + u su];
 * NULL = zero) and ghT (B, U) (NULL = zero), write dP (B, T, G*U), dh0 (B, U) and,
 * when dbias is not NULL, each row's sum of dP over time (B, G*U).
 * The reverse recurrence: c = dL/dh_t (from later steps and from Y_t), then
 *     dL/da_t = c h_{t-1},  dL/db_t = c,  dL/dh_{t-1} = c a_t. */
int RK_NAME(rk_minrnn_backward)(int kind, int64_t B, int64_t T, int64_t U, const REAL *P, const REAL *h0,
                               const REAL *H, const uint8_t *mask, int zero_output, const REAL *gY,
                               int64_t sb, int64_t st, int64_t su, const REAL *ghT, REAL *dP, REAL *dh0,
                               REAL *dbias, int threads) {
    if (kind != 0 && kind != 1) return -1;
    const int64_t G = kind == 0 ? 2 : 3;
    if (threads < 1) threads = 1;
    int64_t blocks, width;
    rk_split(B, U, threads, &blocks, &width);
    const int64_t tasks = B * blocks;

#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
        const int64_t row = task / blocks;
        const int64_t u0 = (task % blocks) * width;
        const int64_t n = (u0 + width < U ? u0 + width : U) - u0;
        REAL *c = dh0 + row * U + u0; /* the carried gradient dL/dh_t, ends as dL/dh_0  (n,) */
        REAL *db = dbias ? dbias + row * G * U + u0 : NULL;
        const int64_t first = mask ? rk_first_valid(mask, row, T) : 0;
        for (int64_t u = 0; u < n; ++u) c[u] = ghT ? ghT[row * U + u0 + u] : (REAL)0;
        if (db)
            for (int64_t g = 0; g < G; ++g) memset(db + g * U, 0, (size_t)n * sizeof(REAL));

        for (int64_t t = T - 1; t >= 0; --t) {
            const int64_t step = row * T + t;
            const int valid = mask ? mask[step] != 0 : 1;
            /* Y_t = H_t where the output shows the state, else 0 */
            const int shows = valid || (!zero_output && t >= first);
            if (gY && shows) {
                const REAL *gy = gY + row * sb + t * st + u0 * su;
                if (su == 1) {
#pragma omp simd
                    for (int64_t u = 0; u < n; ++u) c[u] += gy[u];
                } else {
                    for (int64_t u = 0; u < n; ++u) c[u] += gy[u * su];
                }
            }
            REAL *dp = dP + step * G * U + u0;
            if (!valid) {
                /* a = 1, b = 0: the gradient passes through unchanged */
                for (int64_t g = 0; g < G; ++g) memset(dp + g * U, 0, (size_t)n * sizeof(REAL));
                continue;
            }
            const REAL *p = P + step * G * U + u0;
            const REAL *h_prev = t > 0 ? H + (step - 1) * U + u0 : h0 + row * U + u0;
            if (kind == 0) {
#pragma omp simd
                for (int64_t u = 0; u < n; ++u) {
                    REAL dg;
                    REAL z = RK_NAME(rk_sigmoid)(p[u]);
                    REAL cand = RK_NAME(rk_positive)(p[U + u], &dg);
                    REAL cu = c[u];
                    /* dL/dp_z = c (ht_t - h_{t-1}) z (1 - z) */
                    REAL dpz = cu * (cand - h_prev[u]) * z * ((REAL)1 - z);
                    /* dL/dp_h = c z g'(p_h) */
                    REAL dph = cu * z * dg;
                    dp[u] = dpz;
                    dp[U + u] = dph;
                    /* dL/dh_{t-1} = c (1 - z) */
                    c[u] = cu - cu * z;
                }
            } else {
#pragma omp simd
                for (int64_t u = 0; u < n; ++u) {
                    REAL dg, omf, omi;
                    REAL a = RK_NAME(rk_forget)(p[u], p[U + u], &omf, &omi);
                    REAL cand = RK_NAME(rk_positive)(p[2 * U + u], &dg);
                    REAL cu = c[u];
                    /* dL/da = c (h_{t-1} - ht_t), times da/dp_f and da/dp_i */
                    REAL da = cu * (h_prev[u] - cand) * a * ((REAL)1 - a);
                    dp[u] = da * omf;
                    dp[U + u] = -da * omi;
                    /* dL/dp_h = c (1 - a) g'(p_h) */
                    dp[2 * U + u] = cu * ((REAL)1 - a) * dg;
                    /* dL/dh_{t-1} = c a */
                    c[u] = cu * a;
                }
            }
            if (db) {
                for (int64_t g = 0; g < G; ++g) {
#pragma omp simd
                    for (int64_t u = 0; u < n; ++u) db[g * U + u] += dp[g * U + u];
                }
            }
        }
    }
    return 0;
}

#undef REAL

#endif /* RK_REAL */
