/*
 * elfhook.h -- redirect one imported function of one loaded ELF object by
 * rewriting its GOT slot(s): the R_X86_64_JUMP_SLOT (PLT call) and
 * R_X86_64_GLOB_DAT (-fno-plt call) relocations that name the symbol.
 *
 * The object is chosen by an address inside it (e.g. &_PyRuntime: the
 * shared libpython, or the executable when libpython is linked
 * statically). Only that object's calls are redirected; every other
 * object keeps calling the real function.
 *
 * A slot is written with one aligned 8-byte atomic store, so a thread
 * calling through it at that moment jumps either to the old or the new
 * target, never elsewhere. A slot on a read-only page (RELRO: full
 * RELRO, or GLOB_DAT slots) is made writable with mprotect for the store,
 * and its page gets back the protection it had before (from
 * /proc/self/maps), never more read-only than it was.
 *
 * Thread rules: find and write are called by one thread at a time (the
 * controller); calls through the slots may happen on any thread at any
 * time.
 */
#ifndef EP_ELFHOOK_H
#define EP_ELFHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EP_ELFHOOK_MAX_SLOTS 4

typedef struct ep_elfhook {
    void **slot[EP_ELFHOOK_MAX_SLOTS]; /* GOT entries naming the symbol */
    bool relro[EP_ELFHOOK_MAX_SLOTS];  /* on a page glibc made read-only */
    size_t nslots;
    void *real;       /* what the dynamic linker binds the symbol to */
    char version[32]; /* the symbol version the object asks for */
    char object[256]; /* path of the object ("" : the executable) */
} ep_elfhook;

/* Finds the GOT slots through which the object containing `inside`
 * calls `symbol`, and the real function (dlvsym with the version the
 * object needs, else dlsym). EMBPROF_ENOTFOUND if the object imports no
 * such symbol; EMBPROF_EUNSUPPORTED for an object we cannot parse. */
int ep_elfhook_find(const void *inside, const char *symbol, ep_elfhook *h);
/* Stores fn in every slot. EMBPROF_EUNSUPPORTED (with the reason) if a
 * read-only slot cannot be made writable; nothing is changed then. */
int ep_elfhook_write(ep_elfhook *h, void *fn);
/* The value slot i holds now. */
void *ep_elfhook_current(const ep_elfhook *h, size_t i);

#endif
