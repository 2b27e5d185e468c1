/* Start-up probe: a constructor that only stats /proc/self/fd (the K3
 * "only 0-2 open?" check). Against libempty.so it prices the first /proc
 * access of a process, teardown at exit included. */
#include <sys/stat.h>

__attribute__((constructor)) static void probe(void)
{
    struct stat st;
    (void)stat("/proc/self/fd", &st);
}
