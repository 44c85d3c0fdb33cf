// The host's memory latency, for make bench-checkout: a random walk over one cycle through N MB (each step
// loads the address of the next, so no prefetcher helps), timed, in ns per step.
//
// On a shared virtual machine the same build's CPU per checkout moves by up to 70 % between phases of tens of
// minutes, and every function costs more in a slow phase: the host's other tenants take cache and memory
// bandwidth. This walk follows those phases (32 MB: the time to memory; 8 MB: how much of the shared last-level
// cache is left to us), so a benchmark's figures say which phase they were measured in.
//
// usage: host-probe MB [MB ...]   prints "MB ns" for each size
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t state = 0x9E3779B97F4A7C15u;

static uint64_t next(void) {  // xorshift64*
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Du;
}

static double walk(size_t megabytes) {
    size_t count = megabytes * 1024 * 1024 / sizeof(size_t);
    size_t *slots = malloc(count * sizeof(size_t));
    if (slots == NULL) return -1;
    for (size_t i = 0; i < count; i++) slots[i] = i;
    // Sattolo's shuffle: one cycle through every slot.
    for (size_t i = count - 1; i > 0; i--) {
        size_t j = (size_t)(next() % i);
        size_t swap = slots[i];
        slots[i] = slots[j];
        slots[j] = swap;
    }
    size_t at = 0;
    for (size_t i = 0; i < count; i++) at = slots[at];  // warm: the pages mapped, the cache filled
    const size_t steps = 3000000;
    double start = seconds();
    for (size_t i = 0; i < steps; i++) at = slots[at];
    double elapsed = seconds() - start;
    volatile size_t sink = at;
    (void)sink;
    free(slots);
    return elapsed / (double)steps * 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: host-probe MB [MB ...]\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        long megabytes = strtol(argv[i], NULL, 10);
        if (megabytes < 1 || megabytes > 1024) {
            fprintf(stderr, "host-probe: MB must be 1 to 1024\n");
            return 2;
        }
        printf("%ld %.1f\n", megabytes, walk((size_t)megabytes));
    }
    return 0;
}
