/* secure: the program tests/secure_exec.rs runs, once as it is and once as a
 * setuid copy (secure execution, AT_SECURE=1).
 *
 * Prints "secure=S loaded=L": S is getauxval(AT_SECURE), L is 1 if
 * libcloexec.so is mapped into this process (read from /proc/self/maps), so
 * the test sees that the library really was loaded where it must ignore its
 * settings. Then it opens a leak and execs /bin/true, so that the library has
 * a sweep to do (and, if it did not ignore its settings, a line to log).
 *
 * Dynamically linked, and nothing else from the harness: the setuid copy runs
 * as nobody from a directory the test makes world-readable. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

int main(void)
{
    char line[512];
    int loaded = 0;
    FILE *maps = fopen("/proc/self/maps", "re");
    while (maps && fgets(line, sizeof line, maps))
        loaded |= strstr(line, "libcloexec.so") != NULL;
    printf("secure=%lu loaded=%d\n", getauxval(AT_SECURE), loaded);
    fflush(stdout);
    /* The leak: no O_CLOEXEC. */
    (void)open("/dev/null", O_RDONLY);
    execl("/bin/true", "true", (char *)0);
    return 1;
}
