/*
 * test_text.c — UTF-8 decoding against every class of malformed input the
 * header names, an encode/decode round trip over all scalar values, and
 * ascii-fold on real names plus every entry of the generated table, and
 * trimming of Unicode white space.
 */
#include "rnnserve/status.h"
#include "rnnserve/text.h"

#include "../test.h"

/* The generated table itself, to check that every entry is reachable by the
 * binary search (which a mis-sorted table would break). */

/* Normalises a NUL-terminated string into a static-size buffer; returns the
 * library's result and NUL-terminates out on success. */
static long norm(rs_normalize mode, const char *in, char *out, size_t cap)
{
    long n = rs_normalize_text(mode, in, strlen(in), out, cap);
    if (n >= 0 && (size_t)n < cap)
        out[n] = '\0';
    return n;
}

static void check_fold(const char *in, const char *expected)
{
    char out[64];
    long n = norm(RS_NORMALIZE_ASCII_FOLD, in, out, sizeof out);
    ASSERT_EQ((long)strlen(expected), n);
    ASSERT_STREQ(expected, n >= 0 ? out : "(error)");
}

static void normalize_names_round_trip(void)
{
    rs_normalize m = RS_NORMALIZE_ASCII_FOLD;
    ASSERT_STREQ("none", rs_normalize_name(RS_NORMALIZE_NONE));
    ASSERT_STREQ("ascii-fold", rs_normalize_name(RS_NORMALIZE_ASCII_FOLD));
    ASSERT_EQ(0, rs_normalize_from_name("none", &m));
    ASSERT_EQ(RS_NORMALIZE_NONE, m);
    ASSERT_EQ(0, rs_normalize_from_name("ascii-fold", &m));
    ASSERT_EQ(RS_NORMALIZE_ASCII_FOLD, m);
    ASSERT_EQ(-1, rs_normalize_from_name("NFD", &m));
    ASSERT_EQ(-1, rs_normalize_from_name("", &m));
    ASSERT_EQ(-1, rs_normalize_from_name(NULL, &m));
    ASSERT_TRUE(rs_normalize_name((rs_normalize)7) == NULL);
}

static void ascii_fold_drops_accents(void)
{
    check_fold("Ślusàrski", "Slusarski");
    check_fold("Müller", "Muller");
    check_fold("Ñúñez", "Nunez");
    check_fold("Dvořák", "Dvorak");
    check_fold("Nguyễn", "Nguyen"); /* U+1EC5: two marks on one letter */
    check_fold("Ångström", "Angstrom");
    check_fold("Άλφα", "Αλφα");             /* Greek tonos */
    check_fold("Ёлкин", "Елкин");           /* Cyrillic diaeresis */
    check_fold("Mu\xcc\x88ller", "Muller"); /* already decomposed: lone U+0308 */
    check_fold("\xcc\x81", "");             /* a mark on its own */
    check_fold("", "");
}

static void ascii_fold_keeps_letters_without_decomposition(void)
{
    check_fold("Straße", "Straße");
    check_fold("Łukasz", "Łukasz");
    check_fold("Øresund", "Øresund");
    check_fold("王", "王");
    check_fold("plain ascii 123", "plain ascii 123");
    /* NUL is valid UTF-8; rejecting control characters is the caller's job. */
    char out[8];
    ASSERT_EQ(3, rs_normalize_text(RS_NORMALIZE_ASCII_FOLD, "a\0b", 3, out, sizeof out));
    ASSERT_TRUE(memcmp(out, "a\0b", 3) == 0);
}

static void none_mode_copies(void)
{
    char out[64];
    ASSERT_EQ((long)strlen("Ślusàrski"), norm(RS_NORMALIZE_NONE, "Ślusàrski", out, sizeof out));
    ASSERT_STREQ("Ślusàrski", out);
    ASSERT_EQ(0, rs_normalize_text(RS_NORMALIZE_NONE, "", 0, NULL, 0));
    ASSERT_EQ(0, rs_normalize_text(RS_NORMALIZE_ASCII_FOLD, "", 0, NULL, 0));
}

static const char *fold_golden = "tests/text/fold_golden.tsv";

/* Every line of tests/text/make_fold_golden.py's file (Python's unicodedata:
 * NFD without the marks U+0300–U+036F): ascii-fold agrees. */
static void every_golden_fold_is_made(void)
{
    FILE *f = fopen(fold_golden, "r");
    ASSERT_TRUE(f != NULL);
    if (!f)
        return;
    char line[64];
    int count = 0, wrong = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned from, to;
        if (line[0] == '#' || sscanf(line, "%x\t%x", &from, &to) != 2)
            continue;
        char in[4], expected[4], out[4];
        int n = rs_utf8_encode(from, in);
        int e = rs_utf8_encode(to, expected);
        long m = rs_normalize_text(RS_NORMALIZE_ASCII_FOLD, in, (size_t)n, out, sizeof out);
        if (m != e || memcmp(out, expected, (size_t)e) != 0) {
            if (wrong++ < 5)
                TEST_FAIL_("U+%04X folds to %ld bytes, Python's unicodedata says U+%04X", from, m,
                           to);
        }
        count++;
    }
    fclose(f);
    ASSERT_EQ(0, wrong);
    ASSERT_TRUE(count > 500); /* 575 at Unicode 14 */
}

static void output_never_longer_than_input(void)
{
    /* The header promises cap = len suffices, for every code point. */
    int wrong = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        char in[4], out[4];
        int n = rs_utf8_encode(cp, in);
        long m = rs_normalize_text(RS_NORMALIZE_ASCII_FOLD, in, (size_t)n, out, (size_t)n);
        if (m < 0 || m > n || !rs_utf8_valid(out, (size_t)m))
            wrong++;
    }
    ASSERT_EQ(0, wrong);
}

static void invalid_utf8_is_rejected(void)
{
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"\xc3", 1},                 /* truncated 2-byte */
        {"\xe2\x82", 2},             /* truncated 3-byte */
        {"\xf0\x9f\x98", 3},         /* truncated 4-byte */
        {"\xc3\x28", 2},             /* bad continuation */
        {"\xe2\x28\xa1", 3},         /* bad continuation, 2nd byte */
        {"\xe2\x82\x28", 3},         /* bad continuation, 3rd byte */
        {"\xf0\x9f\x98\x28", 4},     /* bad continuation, 4th byte */
        {"\xc0\x80", 2},             /* overlong NUL */
        {"\xc1\xbf", 2},             /* overlong U+007F */
        {"\xe0\x80\x80", 3},         /* overlong 3-byte */
        {"\xe0\x9f\xbf", 3},         /* overlong U+07FF */
        {"\xf0\x80\x80\x80", 4},     /* overlong 4-byte */
        {"\xf0\x8f\xbf\xbf", 4},     /* overlong U+FFFF */
        {"\xed\xa0\x80", 3},         /* surrogate U+D800 */
        {"\xed\xbf\xbf", 3},         /* surrogate U+DFFF */
        {"\xf4\x90\x80\x80", 4},     /* U+110000 */
        {"\xf5\x80\x80\x80", 4},     /* F5 lead */
        {"\xf8\x88\x80\x80\x80", 5}, /* old 5-byte form */
        {"\xfe", 1},                 /* FE never appears in UTF-8 */
        {"\xff", 1},                 /* nor does FF */
        {"\x80", 1},                 /* lone continuation */
        {"\xbf", 1},                 /* lone continuation, last of range */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        uint32_t cp;
        char out[16];
        ASSERT_EQ(-1, rs_utf8_decode(bad[k].bytes, bad[k].len, &cp));
        ASSERT_EQ(0, rs_utf8_valid(bad[k].bytes, bad[k].len));
        ASSERT_EQ(-1, rs_utf8_length(bad[k].bytes, bad[k].len));
        ASSERT_EQ(RS_EUTF8,
                  rs_normalize_text(RS_NORMALIZE_NONE, bad[k].bytes, bad[k].len, out, sizeof out));
        ASSERT_EQ(RS_EUTF8, rs_normalize_text(RS_NORMALIZE_ASCII_FOLD, bad[k].bytes, bad[k].len,
                                              out, sizeof out));
    }
    uint32_t cp;
    ASSERT_EQ(-1, rs_utf8_decode("", 0, &cp));
    /* A lone continuation byte after valid text: the first character decodes,
     * the string as a whole does not. */
    char out[16];
    ASSERT_EQ(1, rs_utf8_decode("ok\x80", 3, &cp));
    ASSERT_EQ(0, rs_utf8_valid("ok\x80", 3));
    ASSERT_EQ(-1, rs_utf8_length("ok\x80", 3));
    ASSERT_EQ(RS_EUTF8, rs_normalize_text(RS_NORMALIZE_ASCII_FOLD, "ok\x80", 3, out, sizeof out));
}

static void boundary_values_decode(void)
{
    static const struct {
        const char *bytes;
        int len;
        uint32_t cp;
    } good[] = {
        {"\x00", 1, 0x0},
        {"\x7f", 1, 0x7F},
        {"\xc2\x80", 2, 0x80},
        {"\xdf\xbf", 2, 0x7FF},
        {"\xe0\xa0\x80", 3, 0x800},
        {"\xed\x9f\xbf", 3, 0xD7FF},
        {"\xee\x80\x80", 3, 0xE000},
        {"\xef\xbf\xbf", 3, 0xFFFF},
        {"\xf0\x90\x80\x80", 4, 0x10000},
        {"\xf4\x8f\xbf\xbf", 4, 0x10FFFF},
    };
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        uint32_t cp = 0xFFFFFFFF;
        ASSERT_EQ(good[k].len, rs_utf8_decode(good[k].bytes, (size_t)good[k].len, &cp));
        ASSERT_EQ(good[k].cp, cp);
    }
}

static void too_small_buffer_is_toolong(void)
{
    char out[16];
    const char *s = "Ślusàrski"; /* 11 bytes, folds to 9 */
    ASSERT_EQ(RS_ETOOLONG, rs_normalize_text(RS_NORMALIZE_NONE, s, strlen(s), out, 10));
    ASSERT_EQ(11, rs_normalize_text(RS_NORMALIZE_NONE, s, strlen(s), out, 11));
    ASSERT_EQ(RS_ETOOLONG, rs_normalize_text(RS_NORMALIZE_ASCII_FOLD, s, strlen(s), out, 8));
    ASSERT_EQ(9, rs_normalize_text(RS_NORMALIZE_ASCII_FOLD, s, strlen(s), out, 9));
    ASSERT_EQ(RS_ETOOLONG, rs_normalize_text(RS_NORMALIZE_ASCII_FOLD, "王", 3, out, 2));
    ASSERT_EQ(RS_ETOOLONG, rs_normalize_text(RS_NORMALIZE_NONE, "a", 1, NULL, 0));
    /* Invalid input wins over a too-small buffer: it is the real fault. */
    ASSERT_EQ(RS_EUTF8, rs_normalize_text(RS_NORMALIZE_ASCII_FOLD, "abc\xff", 4, out, 1));
    ASSERT_EQ(RS_EUTF8, rs_normalize_text(RS_NORMALIZE_NONE, "abc\xff", 4, out, 1));
}

static void length_counts_code_points(void)
{
    ASSERT_EQ(0, rs_utf8_length("", 0));
    ASSERT_EQ(5, rs_utf8_length("hello", 5));
    ASSERT_EQ(9, rs_utf8_length("Ślusàrski", strlen("Ślusàrski")));
    ASSERT_EQ(1, rs_utf8_length("王", strlen("王")));
    ASSERT_EQ(2, rs_utf8_length("\xf0\x9f\x98\x80x", 5));
    ASSERT_EQ(3, rs_utf8_length("a\0b", 3));
}

static void encode_decode_round_trip_all_scalars(void)
{
    int wrong = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        char buf[4];
        int n = rs_utf8_encode(cp, buf);
        int expected = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        uint32_t back = 0xFFFFFFFF;
        if (n != expected || rs_utf8_decode(buf, (size_t)n, &back) != n || back != cp)
            wrong++;
        /* Every proper prefix of a multi-byte sequence is truncated. */
        for (int k = 1; k < n; k++)
            if (rs_utf8_decode(buf, (size_t)k, &back) != -1)
                wrong++;
    }
    ASSERT_EQ(0, wrong);
}

/* The definition of UTF-8 written the slow, obvious way (RFC 3629 section 3):
 * 1 if b[0..len) is exactly one well-formed character. */
static int reference_one_char(const unsigned char *b, size_t len)
{
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t n = b[0] < 0x80         ? 1
               : (b[0] >> 5) == 6  ? 2
               : (b[0] >> 4) == 14 ? 3
               : (b[0] >> 3) == 30 ? 4
                                   : 0;
    if (n == 0 || n != len)
        return 0;
    uint32_t cp = n == 1 ? b[0] : b[0] & (0x7Fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((b[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (b[i] & 0x3Fu);
    }
    return cp >= min_for_len[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
}

static int decoder_agrees(const unsigned char *b, size_t len)
{
    uint32_t cp;
    int want = reference_one_char(b, len);
    int got = rs_utf8_decode((const char *)b, len, &cp) == (int)len;
    return want == got;
}

static void decoder_matches_reference_on_short_sequences(void)
{
    /* Every 1-, 2- and 3-byte string, and 4-byte strings with every first two
     * bytes and the interesting values for the last two. */
    static const unsigned char edge[] = {0x00, 0x7F, 0x80, 0x8F, 0x90,
                                         0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
    unsigned char b[4];
    int wrong = 0;
    for (unsigned x = 0; x < 256; x++) {
        b[0] = (unsigned char)x;
        wrong += !decoder_agrees(b, 1);
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (unsigned char)y;
            wrong += !decoder_agrees(b, 2);
            for (unsigned z = 0; z < 256; z++) {
                b[2] = (unsigned char)z;
                wrong += !decoder_agrees(b, 3);
            }
            for (size_t i = 0; i < sizeof edge; i++) {
                for (size_t j = 0; j < sizeof edge; j++) {
                    b[2] = edge[i];
                    b[3] = edge[j];
                    wrong += !decoder_agrees(b, 4);
                }
            }
        }
    }
    ASSERT_EQ(0, wrong);
}

/* Trims s and compares what is left with expected. */
static void check_trim(const char *s, const char *expected)
{
    size_t start = 99, n = rs_utf8_trim(s, strlen(s), &start);
    ASSERT_EQ((long)strlen(expected), (long)n);
    ASSERT_TRUE(start <= strlen(s) && strncmp(s + start, expected, n) == 0);
}

static void trim_drops_unicode_white_space_at_both_ends(void)
{
    check_trim("Nakamura", "Nakamura");
    check_trim(" Nakamura ", "Nakamura");
    check_trim("\t\n\r\v\f Nakamura\n", "Nakamura");
    check_trim("De la Cruz", "De la Cruz");               /* inner spaces stay */
    check_trim("\xc2\xa0O'Brien\xe3\x80\x80", "O'Brien"); /* U+00A0, U+3000 */
    check_trim("\xe2\x80\x83\xe2\x80\xafM\xc3\xbcller\xc2\x85",
               "M\xc3\xbcller");                                        /* U+2003, U+202F, U+0085 */
    check_trim("\xe5\xb1\xb1\xe7\x94\xb0", "\xe5\xb1\xb1\xe7\x94\xb0"); /* no space: CJK kept */
    check_trim("\xe2\x80\x8bx\xef\xbb\xbf",
               "\xe2\x80\x8bx\xef\xbb\xbf"); /* U+200B, U+FEFF are not spaces */
    check_trim("", "");
    check_trim("   ", "");
    check_trim(" \t\n\xe3\x80\x80\xc2\xa0", "");
    ASSERT_TRUE(rs_unicode_is_space(0x2028) && rs_unicode_is_space(0x1680));
    ASSERT_TRUE(!rs_unicode_is_space(0x200B) && !rs_unicode_is_space(0x1C) &&
                !rs_unicode_is_space('a'));
}

int main(int argc, char **argv)
{
    if (argc > 1)
        fold_golden = argv[1];
    RUN_TEST(normalize_names_round_trip);
    RUN_TEST(ascii_fold_drops_accents);
    RUN_TEST(ascii_fold_keeps_letters_without_decomposition);
    RUN_TEST(none_mode_copies);
    RUN_TEST(every_golden_fold_is_made);
    RUN_TEST(output_never_longer_than_input);
    RUN_TEST(invalid_utf8_is_rejected);
    RUN_TEST(boundary_values_decode);
    RUN_TEST(decoder_matches_reference_on_short_sequences);
    RUN_TEST(too_small_buffer_is_toolong);
    RUN_TEST(length_counts_code_points);
    RUN_TEST(encode_decode_round_trip_all_scalars);
    RUN_TEST(trim_drops_unicode_white_space_at_both_ends);
    TEST_MAIN_END();
}
