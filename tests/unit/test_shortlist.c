/*
 * test_shortlist.c — a translator's shortlist: IBM Model 1 on pairs whose
 * translations are known (src/train/lexicon.c), and a sentence's candidate
 * ids (src/nn/shortlist.c).
 *
 * The pairs: source word 4+i always comes with target word 10+i, in
 * sentences that also hold a frequent source word 4 ("the") and its
 * frequent target 4 ("le").  Model 1 must find each word's own
 * translation first (co-occurrence counts alone rank "le" first for every
 * word), leave the common ids out of the rows, and honour per_word and
 * min_prob.
 */
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "lexicon.h"
#include "rnnserve/shortlist.h"

enum { SV = 12, TV = 20, N_PAIRS = 60 };

static void test_model1(void)
{
    int32_t src[3 * N_PAIRS], tgt[3 * N_PAIRS];
    int src_off[N_PAIRS + 1], tgt_off[N_PAIRS + 1], ns = 0, nt = 0;
    for (int i = 0; i < N_PAIRS; i++) {
        int a = 1 + i % 7, b = 1 + (i * 3 + 1) % 7; /* source words 5..11 */
        src_off[i] = ns;
        tgt_off[i] = nt;
        src[ns++] = 4;
        src[ns++] = 4 + a;
        tgt[nt++] = 4;
        tgt[nt++] = 10 + a;
        if (a != b) {
            src[ns++] = 4 + b;
            tgt[nt++] = 10 + b;
        }
    }
    src_off[N_PAIRS] = ns;
    tgt_off[N_PAIRS] = nt;
    rs_id_pairs p = {.n = N_PAIRS,
                     .src_off = src_off,
                     .tgt_off = tgt_off,
                     .src = src,
                     .tgt = tgt,
                     .src_vocab = SV,
                     .tgt_vocab = TV};
    int32_t lex[SV * 3];
    rs_lexicon_opts o = {.iterations = 10, .common = 5, .per_word = 3, .min_prob = 0.05};
    ASSERT_EQ(0, rs_lexicon_fit(&p, &o, lex));
    for (int w = 5; w <= 11; w++) {
        ASSERT_EQ(10 + (w - 4), lex[w * 3]); /* its own translation first */
        for (int k = 0; k < 3; k++)
            ASSERT_TRUE(lex[w * 3 + k] == -1 || lex[w * 3 + k] >= 5); /* never a common id */
    }
    for (int k = 0; k < 3; k++) /* words never seen: empty rows */
        ASSERT_EQ(-1, lex[0 * 3 + k]);
    /* a high min_prob keeps only the translation itself */
    o.min_prob = 0.6;
    ASSERT_EQ(0, rs_lexicon_fit(&p, &o, lex));
    for (int w = 5; w <= 11; w++) {
        ASSERT_EQ(10 + (w - 4), lex[w * 3]);
        ASSERT_EQ(-1, lex[w * 3 + 1]);
    }
    /* per_word 1 */
    int32_t one[SV];
    o.per_word = 1;
    o.min_prob = 0;
    ASSERT_EQ(0, rs_lexicon_fit(&p, &o, one));
    for (int w = 5; w <= 11; w++)
        ASSERT_EQ(10 + (w - 4), one[w]);
}

static void test_candidates(void)
{
    /* 4 source words × 2 entries; common 6 (ids below it are not extras) */
    static const int32_t lexical[4 * 2] = {-1, -1, 9, 7, 7, 12, 3, -1};
    rs_shortlist s = {.common = 6, .per_word = 2, .src_vocab = 4, .lexical = lexical};
    int32_t src[] = {1, 2, 3, 2, 99, -5}; /* repeats, and ids outside the table */
    int32_t out[32];
    ASSERT_TRUE(rs_shortlist_capacity(&s, 6) >= 12);
    int n = rs_shortlist_for(&s, src, 6, out);
    static const int32_t want[] = {7, 9, 12};
    ASSERT_EQ(3, n);
    ASSERT_TRUE(memcmp(out, want, sizeof want) == 0);
    /* no source word: no extras */
    ASSERT_EQ(0, rs_shortlist_for(&s, src, 0, out));
}

int main(void)
{
    RUN_TEST(test_model1);
    RUN_TEST(test_candidates);
    TEST_MAIN_END();
}
