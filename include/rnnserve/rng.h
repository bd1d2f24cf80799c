/*
 * rng.h — a small, explicit random number generator (PCG32, O'Neill 2014).
 *
 * State is always passed explicitly so that a seeded training run or a
 * seeded request reproduces exactly, whatever other threads do.  Not for
 * cryptography.
 */
#ifndef RNNSERVE_RNG_H
#define RNNSERVE_RNG_H

#include <stdint.h>

typedef struct rs_rng {
    uint64_t state;
    uint64_t inc;
} rs_rng;

/* Seed a generator; the same seed gives the same stream on every machine. */
void rs_rng_seed(rs_rng *rng, uint64_t seed);
/* Uniform 32-bit value. */
uint32_t rs_rng_u32(rs_rng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double rs_rng_uniform(rs_rng *rng);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint32_t rs_rng_below(rs_rng *rng, uint32_t n);
/* Standard normal (Box–Muller). */
double rs_rng_normal(rs_rng *rng);
/* Shuffles v[0..n) in place (Fisher–Yates, one rs_rng_below per swap from
 * the end), so a seed gives the same order on every machine. */
void rs_rng_shuffle(rs_rng *rng, int *v, int n);

#endif
