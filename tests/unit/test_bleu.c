/*
 * test_bleu.c — corpus BLEU-4 (src/train/bleu.c) against NLTK's
 * corpus_bleu on the corpora of tests/bleu/make_bleu_golden.py: random
 * sentences with repeated n-grams and 1–4 references of various lengths,
 * a perfect corpus, one without a common 4-gram, one with a brevity
 * penalty.  Agreement to 1e-9 (of 100).
 * Usage: test_bleu [golden.txt]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "bleu.h"
#include "rnnserve/strtab.h"

static const char *golden = "tests/bleu/golden.txt";

/* Interns the space-separated words of s[0..len) into ids; returns the count. */
static int words(rs_strtab *t, const char *s, size_t len, int32_t *ids, int cap)
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && s[i] == ' ')
            i++;
        size_t j = i;
        while (j < len && s[j] != ' ')
            j++;
        if (j > i && n < cap)
            ids[n++] = rs_strtab_intern(t, s + i, j - i);
        i = j;
    }
    return n;
}

static void test_against_nltk(void)
{
    FILE *f = fopen(golden, "r");
    ASSERT_TRUE(f != NULL);
    if (!f)
        return;
    char line[8192], name[64];
    int corpora = 0;
    rs_strtab t = {0};
    while (fgets(line, sizeof line, f)) {
        int sentences;
        double want;
        if (sscanf(line, "corpus %63s %d %lf", name, &sentences, &want) != 3)
            continue;
        rs_bleu b = {0};
        for (int k = 0; k < sentences && fgets(line, sizeof line, f); k++) {
            line[strcspn(line, "\n")] = '\0';
            int32_t hyp[64], ref[4][64];
            const int32_t *refs[4] = {ref[0], ref[1], ref[2], ref[3]};
            int ref_n[4], n_refs = 0, hn = 0;
            char *part = line;
            for (int piece = 0; part; piece++) {
                char *sep = strstr(part, " ||| ");
                size_t len = sep ? (size_t)(sep - part) : strlen(part);
                if (piece == 0)
                    hn = words(&t, part, len, hyp, 64);
                else if (n_refs < 4) {
                    ref_n[n_refs] = words(&t, part, len, ref[n_refs], 64);
                    n_refs++;
                }
                part = sep ? sep + 5 : NULL;
            }
            rs_bleu_add(&b, hyp, hn, refs, ref_n, n_refs);
        }
        double got = rs_bleu_score(&b);
        test_checks_++;
        if (!(got > want - 1e-9 && got < want + 1e-9))
            TEST_FAIL_("%s: BLEU %.12f, NLTK %.12f", name, got, want);
        corpora++;
    }
    fclose(f);
    rs_strtab_free(&t);
    ASSERT_EQ(15, corpora);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        golden = argv[1];
    RUN_TEST(test_against_nltk);
    TEST_MAIN_END();
}
