/*
 * hindex.c -- linear probing, grown at half load.
 */
#include "hindex.h"

#include <stdlib.h>
#include <string.h>

void
ep_hindex_free(ep_hindex *h)
{
    free(h->slots);
    free(h->hashes);
    memset(h, 0, sizeof(*h));
}

void
ep_hindex_clear(ep_hindex *h)
{
    if (h->cap != 0) {
        memset(h->slots, 0, h->cap * sizeof(*h->slots));
    }
    h->used = 0;
}

uint32_t
ep_hindex_find(const ep_hindex *h, uint32_t hash, ep_hindex_eq eq,
               const void *ctx)
{
    if (h->cap == 0) {
        return UINT32_MAX;
    }
    for (uint32_t i = hash & (h->cap - 1);; i = (i + 1) & (h->cap - 1)) {
        uint32_t s = h->slots[i];

        if (s == 0) {
            return UINT32_MAX;
        }
        if (h->hashes[i] == hash && eq(ctx, s - 1)) {
            return s - 1;
        }
    }
}

static void
place(uint32_t *slots, uint32_t *hashes, uint32_t cap, uint32_t hash,
      uint32_t elem)
{
    uint32_t i = hash & (cap - 1);

    while (slots[i] != 0) {
        i = (i + 1) & (cap - 1);
    }
    slots[i] = elem + 1;
    hashes[i] = hash;
}

int
ep_hindex_insert(ep_hindex *h, uint32_t hash, uint32_t elem)
{
    if ((h->used + 1) * 2 > h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 64;
        uint32_t *slots = calloc(cap, sizeof(*slots));
        uint32_t *hashes = calloc(cap, sizeof(*hashes));

        if (slots == NULL || hashes == NULL || cap < h->cap) {
            free(slots);
            free(hashes);
            return -1;
        }
        for (uint32_t i = 0; i < h->cap; i++) {
            if (h->slots[i] != 0) {
                place(slots, hashes, cap, h->hashes[i], h->slots[i] - 1);
            }
        }
        free(h->slots);
        free(h->hashes);
        h->slots = slots;
        h->hashes = hashes;
        h->cap = cap;
    }
    place(h->slots, h->hashes, h->cap, hash, elem);
    h->used++;
    return 0;
}
