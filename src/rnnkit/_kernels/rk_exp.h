/* rk_exp.h: a vectorisable float32 exp shared by rnnkit's C kernels (minrnn_scan.c,
 * rnn_loop.c).  Included once per kernel file; the loader's cache key covers this file. */
#ifndef RK_EXP_H
#define RK_EXP_H

#include <stdint.h>

/* exp(x) for float32 within ~2 ulp, vectorisable: x = n ln2 + r with |r| <= ln2/2,
 * e^r from its Taylor series to degree 7 (truncation < 6e-9 relative), 2^n from
 * the exponent bits.  Below the smallest normal float the result is 0. */
static inline float rk_exp_f32(float x) {
    const float lo = -87.33654f, hi = 88.0f;
    float xc = x < lo ? lo : (x > hi ? hi : x);
    /* n = round(x / ln2) by the 1.5 * 2^23 trick (round to nearest even) */
    float shifted = xc * 1.44269504088896341f + 12582912.0f;
    float n = shifted - 12582912.0f;
    /* r = x - n ln2, with ln2 split in a short high part and the rest */
    float r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union { int32_t i; float f; } scale;
    scale.i = ((int32_t)n + 127) << 23;
    return x < lo ? 0.0f : p * scale.f;
}

#endif /* RK_EXP_H */
