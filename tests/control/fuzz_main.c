/* A stand-alone driver for fuzz_protocol.c when libFuzzer is not there
 * (gcc builds): mutates a small corpus of real requests at random for a
 * bounded time. Usage: fuzz_protocol_standalone [SECONDS] [SEED]. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const corpus[] = {
    "status",
    "start sampler rate=997 mode=cpu",
    "export speedscope path=\"my dir/a b.json\"",
    "config set sampler.rate 250",
    "x 'single \"q\"' \"esc \\\" \\\\\"",
    "auth s3cret-token-0123456789",
    "top n=5",
    "config get \xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80",
};

static uint64_t rng;

static uint32_t
next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

int
main(int argc, char **argv)
{
    double seconds = argc > 1 ? strtod(argv[1], NULL) : 5.0;
    unsigned char buf[9000];
    struct timespec t0, t;
    unsigned long runs = 0;

    rng = argc > 2 ? strtoull(argv[2], NULL, 10) : (uint64_t)time(NULL);
    rng |= 1;
    printf("fuzz_protocol: seed %llu, %.1f s\n", (unsigned long long)rng,
           seconds);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        const char *seed =
            corpus[next() % (sizeof(corpus) / sizeof(corpus[0]))];
        size_t n = strlen(seed);
        int edits = (int)(next() % 8);

        memcpy(buf, seed, n);
        for (int e = 0; e < edits; e++) {
            uint32_t op = next() % 5, pos = n ? next() % (uint32_t)n : 0;

            if (op == 0 && n > 0) { /* flip a byte */
                buf[pos] = (unsigned char)next();
            } else if (op == 1 && n < sizeof(buf) - 1) { /* insert */
                memmove(buf + pos + 1, buf + pos, n - pos);
                buf[pos] = "\"'\\ \t=\x00\xff\xc3\n"[next() % 11];
                n++;
            } else if (op == 2 && n > 0) { /* delete */
                memmove(buf + pos, buf + pos + 1, n - pos - 1);
                n--;
            } else if (op == 3) { /* duplicate a span: long lines */
                size_t len = next() % 4096;

                while (n + len < sizeof(buf) && len > 0 && n > 0) {
                    size_t take = len < n ? len : n;

                    memcpy(buf + n, buf, take);
                    n += take;
                    len -= take;
                }
            } else if (n < sizeof(buf) - 4) { /* random UTF-8-ish bytes */
                buf[n++] = (unsigned char)(0xc0 | (next() & 0x3f));
                buf[n++] = (unsigned char)(0x80 | (next() & 0x3f));
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
        runs++;
        if ((runs & 1023) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((double)(t.tv_sec - t0.tv_sec) +
                    (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >=
                seconds) {
                break;
            }
        }
    }
    printf("fuzz_protocol: %lu inputs, no failure\n", runs);
    return 0;
}
