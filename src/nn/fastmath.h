/*
 * fastmath.h — e^x and tanh(x) in float without a call into libm, so that
 * the gate loops of training (network.c) and of inference (infer.c)
 * vectorise: glibc's expf and tanhf were a quarter of a training profile,
 * and as much as the matrix work when serving one name at a time.
 *
 * Private to src/nn.  The double build of the gradient checks uses libm.
 * Branch-free (ternaries that become min/max, copysignf) so that GCC can
 * vectorise a loop of them; see gate_math_args in meson.build for the flags
 * that lets it.
 */
#ifndef RNNSERVE_NN_FASTMATH_H
#define RNNSERVE_NN_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/*
 * Cody–Waite range reduction x = n·ln2 + r, |r| <= ln2/2, then a degree-6
 * Taylor polynomial: relative error below 2e-7 (about 1 ulp) over the whole
 * float range; the result saturates to 0 / a huge value outside [-87, 88].
 */
static inline float rs_exp_inline(float x)
{
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    const float round_magic = 12582912.0f; /* 1.5·2^23: adding it rounds to an integer */
    float shifted = x * 1.44269504f + round_magic;
    float n = shifted - round_magic;
    float r = x - n * 0.693145752f - n * 1.42860677e-6f;
    float p =
        1.0f +
        r * (1.0f +
             r * (0.5f + r * (1.66666672e-1f +
                              r * (4.16666679e-2f + r * (8.33333377e-3f + r * 1.38888892e-3f)))));
    /* 2^n from the bits of `shifted`, whose low mantissa bits hold n: no
     * float-to-int conversion, which is undefined behaviour for the NaN
     * that huge (finite) weights can make inside the loops, and unsigned
     * arithmetic, which cannot overflow */
    uint32_t shifted_bits, magic_bits;
    memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
    memcpy(&magic_bits, &round_magic, sizeof magic_bits);
    uint32_t bits = (shifted_bits - magic_bits + 127u) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* tanh through one exponential, exact in sign and saturation */
static inline float rs_tanh_inline(float x)
{
    float e = rs_exp_inline(-2.0f * fabsf(x));
    float t = (1.0f - e) / (1.0f + e);
    return copysignf(t, x);
}

static inline float rs_sigmoid_inline(float x) { return 1.0f / (1.0f + rs_exp_inline(-x)); }

#endif
