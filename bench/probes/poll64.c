/* Start-up probe: one poll(2) over fds 3..63 (events 0: closed fds answer
 * POLLNVAL), a /proc-free way to see which low fds are open. */
#include <poll.h>

__attribute__((constructor)) static void probe(void)
{
    struct pollfd p[61];
    for (int i = 0; i < 61; i++)
        p[i] = (struct pollfd){.fd = i + 3, .events = 0};
    (void)poll(p, 61, 0);
}
