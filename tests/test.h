/*
 * test.h — the smallest test harness that fails loudly.
 *
 * Each check prints file:line, what was expected and what came, and counts
 * the failure; TEST_MAIN_END prints "N passed, N failed" and makes the
 * process exit non-zero if anything failed, so meson sees it.
 */
#ifndef RNNSERVE_TEST_H
#define RNNSERVE_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_failures_;
static int test_checks_;

#define TEST_FAIL_(...)                                                                            \
    do {                                                                                           \
        test_failures_++;                                                                          \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
    } while (0)

#define ASSERT_TRUE(cond)                                                                          \
    do {                                                                                           \
        test_checks_++;                                                                            \
        if (!(cond))                                                                               \
            TEST_FAIL_("expected true: %s", #cond);                                                \
    } while (0)

#define ASSERT_EQ(expected, actual)                                                                \
    do {                                                                                           \
        test_checks_++;                                                                            \
        long long e_ = (long long)(expected), a_ = (long long)(actual);                            \
        if (e_ != a_)                                                                              \
            TEST_FAIL_("%s: expected %lld, got %lld", #actual, e_, a_);                            \
    } while (0)

#define ASSERT_STREQ(expected, actual)                                                             \
    do {                                                                                           \
        test_checks_++;                                                                            \
        const char *e_ = (expected), *a_ = (actual);                                               \
        if (!e_ || !a_ || strcmp(e_, a_) != 0)                                                     \
            TEST_FAIL_("%s: expected \"%s\", got \"%s\"", #actual, e_ ? e_ : "(null)",             \
                       a_ ? a_ : "(null)");                                                        \
    } while (0)

/* |actual - expected| <= tol */
#define ASSERT_NEAR(expected, actual, tol)                                                         \
    do {                                                                                           \
        test_checks_++;                                                                            \
        double e_ = (double)(expected), a_ = (double)(actual);                                     \
        if (!(fabs(e_ - a_) <= (tol)))                                                             \
            TEST_FAIL_("%s: expected %.9g, got %.9g (tolerance %g)", #actual, e_, a_,              \
                       (double)(tol));                                                             \
    } while (0)

/* a substring check, for error messages */
#define ASSERT_CONTAINS(haystack, needle)                                                          \
    do {                                                                                           \
        test_checks_++;                                                                            \
        const char *h_ = (haystack), *n_ = (needle);                                               \
        if (!h_ || !strstr(h_, n_))                                                                \
            TEST_FAIL_("expected \"%s\" to contain \"%s\"", h_ ? h_ : "(null)", n_);               \
    } while (0)

#define RUN_TEST(fn)                                                                               \
    do {                                                                                           \
        int before_ = test_failures_;                                                              \
        fn();                                                                                      \
        fprintf(stderr, "%s %s\n", test_failures_ == before_ ? "ok  " : "FAIL", #fn);              \
    } while (0)

#define TEST_MAIN_END()                                                                            \
    do {                                                                                           \
        printf("%d checks: %d passed, %d failed\n", test_checks_, test_checks_ - test_failures_,   \
               test_failures_);                                                                    \
        return test_failures_ ? 1 : 0;                                                             \
    } while (0)

#endif
