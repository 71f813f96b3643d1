/*
 * bench_proc.c - what the benchmarks read of a process from /proc: its
 * resident memory. Shared by rdrelay-bench (another process, by PID) and
 * rdrelay-lookup-micro (itself). Owns nothing.
 */
#include <stdio.h>

#include "bench.h"

long bench_rss_kb(int pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}
