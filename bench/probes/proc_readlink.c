/* Start-up probe: a constructor that only reads /proc/self/exe (the K7
 * pass-through check). */
#include <unistd.h>

__attribute__((constructor)) static void probe(void)
{
    char buf[256];
    (void)!readlink("/proc/self/exe", buf, sizeof buf);
}
