/* test_redisconn.c - the Redis connection survives a peer that hangs up, whatever the process
 * does with SIGPIPE: the write fails with a reason, the process goes on. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "redisconn.h"

static pthread_barrier_t connected; /* the client's connect has returned */

/* Accepts one connection and, once the client is connected, resets it (SO_LINGER 0: the close
 * sends RST; a reset during the client's connect would fail the connect instead). */
static void *hang_up(void *arg)
{
    int lfd = *(int *)arg;
    int fd = accept(lfd, NULL, NULL);
    struct linger lg = {1, 0};

    pthread_barrier_wait(&connected);
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
    }
    return NULL;
}

static int listen_loopback(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void test_peer_reset_is_an_error_not_a_signal(void **state)
{
    (void)state;
    int port, lfd = listen_loopback(&port);
    pthread_t t;
    char err[256];
    size_t big = 4u << 20; /* more than the socket buffers: the write meets the reset */
    char *value = malloc(big);
    sigset_t pending;

    signal(SIGPIPE, SIG_DFL); /* as in recobroctl: a SIGPIPE would end this test */
    assert_int_equal(pthread_barrier_init(&connected, NULL, 2), 0);
    assert_int_equal(pthread_create(&t, NULL, hang_up, &lfd), 0);
    rconn_t *c = rconn_connect("127.0.0.1", port, 2000, 2000, NULL, err, sizeof(err));
    pthread_barrier_wait(&connected);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&connected);
    assert_non_null(c);
    usleep(50 * 1000); /* let the reset arrive */
    memset(value, 'x', big);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rconn_append(c, "SET k %b", value, big), 0);
        assert_null(rconn_get_reply(c));
        assert_true(rconn_errstr(c)[0] != '\0');
    }
    assert_int_equal(sigpending(&pending), 0);
    assert_false(sigismember(&pending, SIGPIPE));
    rconn_free(c);
    free(value);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_reset_is_an_error_not_a_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
