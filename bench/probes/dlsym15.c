/* Start-up probe: a constructor that resolves the library's 15 real
 * symbols with dlsym(RTLD_NEXT). Build with -fno-optimize-sibling-calls:
 * RTLD_NEXT is relative to the caller, and a tail call would make the
 * loader the caller. */
#include <dlfcn.h>

void *probe_slots[15];

__attribute__((constructor)) static void probe(void)
{
    static const char *const names[15] = {
        "execve", "execv",  "execvp",       "execvpe", "fexecve", "execveat", "posix_spawn", "posix_spawnp",
        "system", "popen",  "dup2",         "dup3",    "fcntl",   "fcntl64",  "ioctl",
    };
    for (int i = 0; i < 15; i++)
        probe_slots[i] = dlsym(RTLD_NEXT, names[i]);
}
