/*
 * test_sha256.c — the FIPS 180-2 appendix B example vectors (one million
 * 'a' fed in awkward chunk sizes), and rs_sha256_file against the in-memory
 * digest, including the error for a path that cannot be read.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen */

#include "rnnserve/sha256.h"
#include "rnnserve/status.h"

#include "../test.h"

#include <stdlib.h>

static void to_hex(const uint8_t digest[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
}

static void hash_hex(const void *data, size_t len, char hex[65])
{
    rs_sha256 ctx;
    uint8_t digest[32];
    rs_sha256_init(&ctx);
    rs_sha256_update(&ctx, data, len);
    rs_sha256_final(&ctx, digest);
    to_hex(digest, hex);
}

static void fips_vectors_match(void)
{
    char hex[65];
    hash_hex("", 0, hex);
    ASSERT_STREQ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hex);
    hash_hex("abc", 3, hex);
    ASSERT_STREQ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", hex);
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hash_hex(m448, strlen(m448), hex);
    ASSERT_STREQ("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", hex);
    /* The 896-bit message pads into a third block. */
    const char *m896 =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
        "klmnopqrlmnopqrsmnopqrstnopqrstu";
    hash_hex(m896, strlen(m896), hex);
    ASSERT_STREQ("cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1", hex);
}

static void million_a_in_odd_chunks(void)
{
    /* Chunk sizes that cross block boundaries in every way: 1, 63, 64, 65,
     * 127, a prime and 3, cycling until one million bytes are in. */
    static const size_t sizes[] = {1, 63, 64, 65, 127, 997, 3};
    char a[1000];
    memset(a, 'a', sizeof a);
    rs_sha256 ctx;
    uint8_t digest[32];
    char hex[65];
    rs_sha256_init(&ctx);
    size_t left = 1000000;
    for (size_t k = 0; left > 0; k++) {
        size_t n = sizes[k % (sizeof sizes / sizeof sizes[0])];
        if (n > left)
            n = left;
        rs_sha256_update(&ctx, a, n);
        left -= n;
    }
    rs_sha256_update(&ctx, NULL, 0); /* an empty update changes nothing */
    rs_sha256_final(&ctx, digest);
    to_hex(digest, hex);
    ASSERT_STREQ("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", hex);
}

static void padding_boundaries_agree_with_one_shot(void)
{
    /* Lengths 55, 56 and 64 are where the length field does or does not fit
     * in the last block; byte-at-a-time must give the one-shot digest. */
    unsigned char msg[130];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)(i * 7 + 1);
    int wrong = 0;
    for (size_t len = 0; len <= sizeof msg; len++) {
        char whole[65], bytewise[65];
        hash_hex(msg, len, whole);
        rs_sha256 ctx;
        uint8_t digest[32];
        rs_sha256_init(&ctx);
        for (size_t i = 0; i < len; i++)
            rs_sha256_update(&ctx, msg + i, 1);
        rs_sha256_final(&ctx, digest);
        to_hex(digest, bytewise);
        if (strcmp(whole, bytewise) != 0)
            wrong++;
    }
    ASSERT_EQ(0, wrong);
    /* 56 bytes: the padding needs a second block (checked with Python's hashlib). */
    char hex[65];
    hash_hex("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 56, hex);
    ASSERT_STREQ("b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a", hex);
}

static void file_digest_matches_memory(void)
{
    /* Larger than the reader's chunk and not a multiple of it or of 64. */
    size_t len = 100003;
    unsigned char *data = malloc(len);
    ASSERT_TRUE(data != NULL);
    if (!data)
        return;
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    char expected[65], got[65], err[256] = "";

    char path[] = "/tmp/rnnserve_test_sha256_XXXXXX";
    FILE *f = NULL;
    int fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    if (fd >= 0)
        f = fdopen(fd, "wb");
    ASSERT_TRUE(f != NULL);
    if (f) {
        ASSERT_EQ(len, fwrite(data, 1, len, f));
        ASSERT_EQ(0, fclose(f));
        hash_hex(data, len, expected);
        ASSERT_EQ(RS_OK, rs_sha256_file(path, got, err, sizeof err));
        ASSERT_STREQ(expected, got);
        ASSERT_STREQ("", err);
        remove(path);
    }
    free(data);
}

static void missing_file_names_the_path(void)
{
    char hex[65], err[256] = "";
    const char *path = "/nonexistent/rnnserve/no-such-file.txt";
    ASSERT_EQ(RS_EIO, rs_sha256_file(path, hex, err, sizeof err));
    ASSERT_CONTAINS(err, path);
    ASSERT_CONTAINS(err, "No such file or directory");
    /* A directory opens but cannot be read: that is an error too. */
    err[0] = '\0';
    ASSERT_EQ(RS_EIO, rs_sha256_file("/tmp", hex, err, sizeof err));
    ASSERT_CONTAINS(err, "/tmp");
    /* No error buffer is allowed. */
    ASSERT_EQ(RS_EIO, rs_sha256_file(path, hex, NULL, 0));
}

int main(void)
{
    RUN_TEST(fips_vectors_match);
    RUN_TEST(million_a_in_odd_chunks);
    RUN_TEST(padding_boundaries_agree_with_one_shot);
    RUN_TEST(file_digest_matches_memory);
    RUN_TEST(missing_file_names_the_path);
    TEST_MAIN_END();
}
