/* The `make bench` driver (issue #5; SPEC section 6): what libcloexec costs
 * a user, each cost a ratio against what the user would otherwise have,
 * both arms measured in the same run and interleaved.
 *
 *   bench --lib /abs/libcloexec.so --empty /abs/libempty.so [--out FILE]
 *       the table: Markdown on stdout, and the same text in FILE;
 *   bench --startup /abs/a.so /abs/b.so...
 *       start-up of /bin/true under each preload (and none), against the first;
 *   bench --exec NFDS none|/abs/lib.so[,VAR=value]...
 *       fork+exec of /bin/true from workers holding NFDS leaked fds, against the first;
 *   bench --hooks none|/abs/lib.so[,VAR=value]...
 *       the hook loops, against the first.
 *
 * The last three take a cost apart: build libraries that each do one piece.
 * BENCH_SCALE=0.1 (say) shrinks every repetition count for a quick look; the
 * counts used are printed under the table. Progress goes to stderr.
 *
 * Files: main.c (this: command line, the report's frame), rows.c (what is
 * measured), driver.c (workers, interleaving, the table), worker.c (the
 * timed work), stats.c (medians, intervals), util.c. */
#include "bench.h"

#include <errno.h>
#include <gnu/libc-version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

static void cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *v = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && v) {
            v += 1 + strspn(v + 1, " \t");
            v[strcspn(v, "\n")] = 0;
            snprintf(buf, len, "%s", v);
            break;
        }
    }
    fclose(f);
}

static void header(void)
{
    struct utsname u;
    uname(&u);
    char cpu[128];
    cpu_model(cpu, sizeof cpu);
    struct stat st;
    long lib_size = stat(lib_path, &st) == 0 ? (long)st.st_size : -1;
    fprintf(md, "## libcloexec benchmark\n\n");
    fprintf(md, "- machine: %ld CPUs (%s), Linux %s %s, glibc %s, `RLIMIT_NOFILE` hard limit %lu\n",
            sysconf(_SC_NPROCESSORS_ONLN), cpu, u.release, u.machine, gnu_get_libc_version(), nofile_hard());
    fprintf(md, "- library: `%s` (%ld bytes); the empty preload: `%s`\n", lib_path, lib_size, empty_path);
    fprintf(md, "- reproduce: `make bench` (driver: `bench/`)\n");
    fprintf(md,
            "- A and B are medians. The arms of a row are measured in the same run, interleaved (A, B, …, then "
            "B, A, …), in several generations of fresh worker processes; A − B and A / B are the medians of the "
            "differences and ratios of samples taken next to each other (the ratio of the medians where the "
            "counts differ); [brackets]: 95 %% bootstrap interval\n");
    fprintf(md,
            "- exec rows: a worker holding the leaked fds (plain `open(\"/dev/null\")`, soft `RLIMIT_NOFILE` "
            "raised to the hard limit) forks, and the child execs `/bin/true` without `LD_PRELOAD` in both arms, "
            "so the row measures the sweep; loading is the start-up rows\n\n");
    table_head();
}

static void usage(void)
{
    fprintf(stderr, "usage: bench --lib /abs/libcloexec.so --empty /abs/libempty.so [--out FILE]\n"
                    "       bench --startup /abs/a.so /abs/b.so...\n"
                    "       bench --exec NFDS none|/abs/lib.so[,VAR=value]...\n"
                    "       bench --hooks none|/abs/lib.so[,VAR=value]...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--worker") == 0)
        return worker_main(atoi(argv[2]), atoi(argv[3]));

    /* The driver itself must not run under the library, or its own spawns
     * would be swept: drop a preload it inherited. */
    if (getenv("LD_PRELOAD")) {
        unsetenv("LD_PRELOAD");
        execv("/proc/self/exe", argv);
        die("re-exec without LD_PRELOAD: %s", strerror(errno));
    }

    const char *out_path = NULL;
    int tool = 0, tool_at = 0;
    for (int i = 1; i < argc && !tool; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--lib") == 0)
            lib_path = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--empty") == 0)
            empty_path = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--out") == 0)
            out_path = argv[++i];
        else if (i + 1 < argc && (!strcmp(argv[i], "--startup") || !strcmp(argv[i], "--hooks")))
            tool = argv[i][2], tool_at = i + 1;
        else if (i + 2 < argc && strcmp(argv[i], "--exec") == 0)
            tool = 'e', tool_at = i + 1;
        else
            usage();
    }

    const char *scale = getenv("BENCH_SCALE");
    counts_init(scale ? atof(scale) : 1.0);
    if (!(count.scale > 0))
        die("BENCH_SCALE must be a positive number");
    driver_init();
    have_close_range = raw_close_range_cloexec(~0U - 1, ~0U) == 0;
    t_start = now_ns();
    switch (tool) {
    case 's':
        return tool_startup(argc - tool_at, argv + tool_at);
    case 'e':
        return tool_compare(0, atoi(argv[tool_at]), argc - tool_at - 1, argv + tool_at + 1);
    case 'h':
        return tool_compare(1, 0, argc - tool_at, argv + tool_at);
    }

    check_preload(lib_path, "--lib");
    check_preload(empty_path, "--empty");
    char *text;
    size_t len;
    md = open_memstream(&text, &len);
    if (!md)
        die("open_memstream: %s", strerror(errno));
    header();
    rows_startup();
    rows_config();
    rows_exec();
    rows_sweep();
    rows_argv();
    rows_fallbacks();
    rows_hooks();
    rows_log();
    phase("done");
    rows_notes();
    fprintf(md, "\ntargets missed: %d; whole run: %.0f s\n", targets_missed, (now_ns() - t_start) / 1e9);
    fclose(md);

    fputs(text, stdout);
    fflush(stdout);
    if (out_path) {
        FILE *f = fopen(out_path, "we");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
            die("writing %s: %s", out_path, strerror(errno));
        fprintf(stderr, "bench: wrote %s\n", out_path);
    }
    free(text);
    return 0;
}
