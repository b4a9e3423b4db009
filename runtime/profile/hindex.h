/*
 * hindex.h -- an open-addressing hash index over an array kept by the
 * caller: slots hold element index + 1 (0 is empty). The caller compares
 * keys, so one small piece of code serves every table in the store.
 */
#ifndef EP_HINDEX_H
#define EP_HINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ep_hindex {
    uint32_t *slots;
    uint32_t *hashes; /* hash of the element in each slot */
    uint32_t cap;     /* power of two, or 0 */
    uint32_t used;
} ep_hindex;

/* Returns true if elem (index) matches the key the caller looks for. */
typedef bool (*ep_hindex_eq)(const void *ctx, uint32_t elem);

void ep_hindex_free(ep_hindex *h);
void ep_hindex_clear(ep_hindex *h);
/* Looks up: returns the element index, or UINT32_MAX. */
uint32_t ep_hindex_find(const ep_hindex *h, uint32_t hash, ep_hindex_eq eq,
                        const void *ctx);
/* Inserts elem (not present yet). 0, or -1 on no memory. */
int ep_hindex_insert(ep_hindex *h, uint32_t hash, uint32_t elem);

/* FNV-1a, for strings and frame arrays. */
static inline uint32_t
ep_hash_bytes(const void *p, size_t n, uint32_t h)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 16777619u;
    }
    return h;
}
#define EP_HASH_SEED 2166136261u

static inline uint32_t
ep_hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (uint32_t)x;
}

#endif
