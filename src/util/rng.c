/*
 * rng.c — PCG32 (XSH RR variant) as published at pcg-random.org, with
 * Box–Muller for normal variates.
 */
#include "rnnserve/rng.h"

#include <math.h>

void rs_rng_seed(rs_rng *rng, uint64_t seed)
{
    rng->state = 0;
    rng->inc = (seed << 1u) | 1u;
    rs_rng_u32(rng);
    rng->state += 0x853c49e6748fea9bULL ^ seed;
    rs_rng_u32(rng);
}

uint32_t rs_rng_u32(rs_rng *rng)
{
    uint64_t old = rng->state;
    rng->state = old * 6364136223846793005ULL + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

double rs_rng_uniform(rs_rng *rng)
{
    uint64_t hi = rs_rng_u32(rng) >> 5; /* 27 bits */
    uint64_t lo = rs_rng_u32(rng) >> 6; /* 26 bits */
    return (double)((hi << 26) | lo) * (1.0 / 9007199254740992.0);
}

uint32_t rs_rng_below(rs_rng *rng, uint32_t n)
{
    /* Lemire's rejection: discard the values that would bias the modulo. */
    uint32_t threshold = (uint32_t)(-n) % n;
    for (;;) {
        uint32_t r = rs_rng_u32(rng);
        if (r >= threshold)
            return r % n;
    }
}

double rs_rng_normal(rs_rng *rng)
{
    double u1 = rs_rng_uniform(rng);
    double u2 = rs_rng_uniform(rng);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void rs_rng_shuffle(rs_rng *rng, int *v, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rs_rng_below(rng, (uint32_t)i + 1);
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}
