/*
 * test_http_load.c — many clients at once: 16 threads of 50 keep-alive
 * requests each get byte for byte the answers main_d gives one request at
 * a time, and 300 connections, all open and all sending before any reply
 * is read, are all answered, twice.  Reload and stop under load are
 * test_http_lifecycle.c's.  Arguments and HTTP_ONLY: harness.h.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../test.h"
#include "harness.h"

/* ---- concurrency ---- */

#define CLIENTS 16

static void concurrent_clients_get_the_sequential_answers(void)
{
    record_expected_answers();
    pthread_t t[CLIENTS];
    client_ctx c[CLIENTS];
    double t0 = now_s();
    for (int i = 0; i < CLIENTS; i++) {
        c[i] = (client_ctx){.d = &main_d, .index = i};
        pthread_create(&t[i], NULL, client_main, &c[i]);
    }
    int ok = 0, failed = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(t[i], NULL);
        ok += c[i].ok;
        failed += c[i].failed;
        if (c[i].failed)
            fprintf(stderr, "     client %d: %s\n", i, c[i].first_failure);
    }
    ASSERT_EQ(CLIENTS * PER_CLIENT, ok);
    ASSERT_EQ(0, failed);
    fprintf(stderr, "     %d requests from %d threads in %.2f s\n", ok + failed, CLIENTS,
            now_s() - t0);
}

/* ---- 300 keep-alive connections, raw sockets ---- */

/* Reads one HTTP response (headers + Content-Length body); its status or -1. */
static int read_response(int fd)
{
    char buf[4096];
    size_t n = 0;
    char *end = NULL;
    while (!end) {
        if (n + 1 >= sizeof buf)
            return -1;
        ssize_t got = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (got <= 0)
            return -1;
        n += (size_t)got;
        buf[n] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    const char *cl = strstr(buf, "Content-Length:");
    size_t body = cl ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
    size_t have = n - (size_t)(end + 4 - buf);
    while (have < body) {
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        if (got <= 0)
            return -1;
        have += (size_t)got;
    }
    int status = -1;
    sscanf(buf, "HTTP/1.1 %d", &status);
    return status;
}

static void many_keep_alive_connections_are_all_answered(void)
{
    enum { N = 300 };
    static int fds[N];
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)main_d.port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int opened = 0;
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct timeval tv = {10, 0};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fds[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fds[i], (struct sockaddr *)&addr, sizeof addr) == 0)
            opened++;
    }
    ASSERT_EQ(N, opened);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    const char *post = "POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                       "application/json\r\nContent-Length: 14\r\n\r\n{\"name\":\"abc\"}";
    for (int round = 0; round < 2; round++) {
        /* every connection sends before any reply is read: all are open
         * and waiting at once */
        for (int i = 0; i < N; i++) {
            const char *msg = (i + round) % 2 ? post : req;
            if (send(fds[i], msg, strlen(msg), MSG_NOSIGNAL) != (ssize_t)strlen(msg))
                fds[i] = -fds[i] - 1;
        }
        int answered = 0;
        for (int i = 0; i < N; i++)
            if (fds[i] >= 0 && read_response(fds[i]) == 200)
                answered++;
        ASSERT_EQ(N, answered);
    }
    for (int i = 0; i < N; i++)
        close(fds[i] >= 0 ? fds[i] : -fds[i] - 1);
}

static const http_scenario scenarios[] = {
    HTTP_SCENARIO(concurrent_clients_get_the_sequential_answers, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(many_keep_alive_connections_are_all_answered, HTTP_MAIN_DAEMON),
};

int main(int argc, char **argv)
{
    int status = http_main(argc, argv, scenarios, sizeof scenarios / sizeof scenarios[0],
                           &test_checks_, &test_failures_);
    if (status != HTTP_RAN)
        return status;
    TEST_MAIN_END();
}
