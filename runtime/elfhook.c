/*
 * elfhook.c -- GOT-slot redirection (see elfhook.h).
 *
 * The dynamic section is read from the loaded image through
 * dl_iterate_phdr: DT_JMPREL/DT_PLTRELSZ (PLT relocations), DT_RELA/
 * DT_RELASZ (the others, for -fno-plt GLOB_DAT slots), DT_SYMTAB,
 * DT_STRTAB, DT_VERSYM and DT_VERNEED (the version the object asks for,
 * so the real function is the one the dynamic linker would bind).
 * glibc relocates these d_ptr values in place for loaded objects; a
 * value below the load base is still relative and gets dlpi_addr added.
 */
#include "elfhook.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"

#if !defined(__x86_64__)
#error "elfhook.c: only x86-64 relocations are handled"
#endif

typedef struct find_ctx {
    uintptr_t inside;
    const char *symbol;
    ep_elfhook *h;
    int rc;
    bool found_object;
} find_ctx;

static uintptr_t
abs_ptr(const struct dl_phdr_info *info, ElfW(Addr) v)
{
    return v < info->dlpi_addr ? info->dlpi_addr + v : v;
}

static bool
contains(const struct dl_phdr_info *info, uintptr_t addr)
{
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + p->p_vaddr;

        if (p->p_type == PT_LOAD && addr >= lo && addr < lo + p->p_memsz) {
            return true;
        }
    }
    return false;
}

/* The version name an object requires for symbol index `sym`, or NULL. */
static const char *
needed_version(const ElfW(Versym) * versym, uintptr_t verneed, size_t nneed,
               const char *strtab, size_t sym)
{
    ElfW(Half) want;
    uintptr_t vn = verneed;

    if (versym == NULL || verneed == 0) {
        return NULL;
    }
    want = versym[sym] & 0x7fff;
    if (want <= 1) {
        return NULL; /* local or global: unversioned */
    }
    for (size_t i = 0; i < nneed && vn != 0; i++) {
        const ElfW(Verneed) *n = (const ElfW(Verneed) *)vn;
        uintptr_t va = vn + n->vn_aux;

        for (ElfW(Half) j = 0; j < n->vn_cnt && va != 0; j++) {
            const ElfW(Vernaux) *a = (const ElfW(Vernaux) *)va;

            if (a->vna_other == want) {
                return strtab + a->vna_name;
            }
            va = a->vna_next ? va + a->vna_next : 0;
        }
        vn = n->vn_next ? vn + n->vn_next : 0;
    }
    return NULL;
}

/* The part of PT_GNU_RELRO that is read-only after relocation: glibc
 * (_dl_protect_relro) protects [ALIGN_DOWN(start), ALIGN_DOWN(end)), so
 * the last partial page of the segment stays writable (it may hold
 * .got.plt or .data: a linker that does not pad RELRO to a page, lld with
 * a small common-page-size, puts them there). */
static void
relro_range(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);

    *lo = *hi = 0;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];

        if (p->p_type == PT_GNU_RELRO) {
            uintptr_t start = info->dlpi_addr + p->p_vaddr;

            *lo = start & ~(pg - 1);
            *hi = (start + p->p_memsz) & ~(pg - 1);
        }
    }
}

static void
scan_relocs(const struct dl_phdr_info *info, find_ctx *x, uintptr_t rela,
            size_t size, const ElfW(Sym) * symtab, const char *strtab,
            const ElfW(Versym) * versym, uintptr_t verneed, size_t nneed,
            uintptr_t relro_lo, uintptr_t relro_hi)
{
    ep_elfhook *h = x->h;

    for (size_t off = 0; rela != 0 && off + sizeof(ElfW(Rela)) <= size;
         off += sizeof(ElfW(Rela))) {
        const ElfW(Rela) *r = (const ElfW(Rela) *)(rela + off);
        size_t type = ELF64_R_TYPE(r->r_info), sym = ELF64_R_SYM(r->r_info);
        uintptr_t slot;
        const char *ver;

        if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) ||
            sym == 0 || strcmp(strtab + symtab[sym].st_name, x->symbol) != 0) {
            continue;
        }
        slot = info->dlpi_addr + r->r_offset;
        if (h->nslots == EP_ELFHOOK_MAX_SLOTS) {
            continue;
        }
        for (size_t i = 0; i < h->nslots; i++) {
            if ((uintptr_t)h->slot[i] == slot) {
                slot = 0;
            }
        }
        if (slot == 0) {
            continue;
        }
        h->slot[h->nslots] = (void **)slot;
        h->relro[h->nslots] = slot >= relro_lo && slot < relro_hi;
        h->nslots++;
        ver = needed_version(versym, verneed, nneed, strtab, sym);
        if (ver != NULL && h->version[0] == '\0') {
            snprintf(h->version, sizeof(h->version), "%s", ver);
        }
    }
}

static int
visit(struct dl_phdr_info *info, size_t size, void *arg)
{
    find_ctx *x = arg;
    const ElfW(Dyn) *dyn = NULL;
    uintptr_t jmprel = 0, rela = 0, verneed = 0, relro_lo, relro_hi;
    size_t pltrelsz = 0, relasz = 0, nneed = 0;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const ElfW(Versym) *versym = NULL;
    long pltrel = DT_RELA;

    (void)size;
    if (!contains(info, x->inside)) {
        return 0;
    }
    x->found_object = true;
    snprintf(x->h->object, sizeof(x->h->object), "%s",
             info->dlpi_name ? info->dlpi_name : "");
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) {
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr +
                                      info->dlpi_phdr[i].p_vaddr);
        }
    }
    if (dyn == NULL) {
        x->rc = ep_error(EMBPROF_EUNSUPPORTED,
                         "%s has no dynamic section (a fully static "
                         "executable): no GOT to interpose",
                         x->h->object[0] ? x->h->object : "the executable");
        return 1;
    }
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_JMPREL:
            jmprel = abs_ptr(info, d->d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            pltrelsz = d->d_un.d_val;
            break;
        case DT_PLTREL:
            pltrel = (long)d->d_un.d_val;
            break;
        case DT_RELA:
            rela = abs_ptr(info, d->d_un.d_ptr);
            break;
        case DT_RELASZ:
            relasz = d->d_un.d_val;
            break;
        case DT_SYMTAB:
            symtab = (const ElfW(Sym) *)abs_ptr(info, d->d_un.d_ptr);
            break;
        case DT_STRTAB:
            strtab = (const char *)abs_ptr(info, d->d_un.d_ptr);
            break;
        case DT_VERSYM:
            versym = (const ElfW(Versym) *)abs_ptr(info, d->d_un.d_ptr);
            break;
        case DT_VERNEED:
            verneed = abs_ptr(info, d->d_un.d_ptr);
            break;
        case DT_VERNEEDNUM:
            nneed = d->d_un.d_val;
            break;
        default:
            break;
        }
    }
    if (symtab == NULL || strtab == NULL || pltrel != DT_RELA) {
        x->rc = ep_error(EMBPROF_EUNSUPPORTED,
                         "%s: no RELA symbol tables in its dynamic section",
                         x->h->object[0] ? x->h->object : "the executable");
        return 1;
    }
    relro_range(info, &relro_lo, &relro_hi);
    scan_relocs(info, x, jmprel, pltrelsz, symtab, strtab, versym, verneed,
                nneed, relro_lo, relro_hi);
    scan_relocs(info, x, rela, relasz, symtab, strtab, versym, verneed, nneed,
                relro_lo, relro_hi);
    /* A slot already bound (not pointing back into the object's own PLT
     * stubs, as a lazy one does) holds exactly what the dynamic linker
     * chose, interposers (sanitizers, the host's wrappers) included. */
    for (size_t i = 0; i < x->h->nslots; i++) {
        void *v = __atomic_load_n(x->h->slot[i], __ATOMIC_SEQ_CST);

        if (v != NULL && !contains(info, (uintptr_t)v)) {
            x->h->real = v;
        }
    }
    x->rc = x->h->nslots > 0
                ? EMBPROF_OK
                : ep_error(EMBPROF_ENOTFOUND, "%s does not import %s",
                           x->h->object[0] ? x->h->object : "the executable",
                           x->symbol);
    return 1;
}

int
ep_elfhook_find(const void *inside, const char *symbol, ep_elfhook *h)
{
    find_ctx x = {(uintptr_t)inside, symbol, h, EMBPROF_OK, false};

    memset(h, 0, sizeof(*h));
    dl_iterate_phdr(visit, &x);
    if (!x.found_object) {
        return ep_error(EMBPROF_ENOTFOUND,
                        "no loaded object contains address %p", inside);
    }
    if (x.rc != EMBPROF_OK) {
        return x.rc;
    }
    if (h->real == NULL) {
        /* Not bound yet: resolve as the dynamic linker would. dlvsym
         * picks the version the object asks for; a plain dlsym also
         * finds an unversioned interposer earlier in the search order
         * (a sanitizer's interceptor), which the linker would bind. A
         * dlsym result in the same object as dlvsym's is a compat
         * version of the symbol, not an interposer. */
        void *v =
            h->version[0] ? dlvsym(RTLD_DEFAULT, symbol, h->version) : NULL;
        void *d = dlsym(RTLD_DEFAULT, symbol);
        Dl_info vi, di;

        h->real = v != NULL ? v : d;
        if (v != NULL && d != NULL && d != v && dladdr(v, &vi) != 0 &&
            dladdr(d, &di) != 0 && vi.dli_fbase != di.dli_fbase) {
            h->real = d;
        }
    }
    if (h->real == NULL) {
        return ep_error(EMBPROF_ENOTFOUND, "cannot resolve %s%s%s", symbol,
                        h->version[0] ? "@" : "", h->version);
    }
    return EMBPROF_OK;
}

/* The protection of the mapping that holds addr (/proc/self/maps), or -1
 * if it cannot be read. */
static int
page_prot(uintptr_t addr)
{
    FILE *f = fopen("/proc/self/maps", "re");
    char *line = NULL;
    size_t cap = 0;
    int prot = -1;

    if (f == NULL) {
        return -1;
    }
    while (getline(&line, &cap, f) > 0) {
        unsigned long lo, hi;
        char p[5];

        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && addr >= lo &&
            addr < hi) {
            prot = (p[0] == 'r' ? PROT_READ : 0) |
                   (p[1] == 'w' ? PROT_WRITE : 0) |
                   (p[2] == 'x' ? PROT_EXEC : 0);
            break;
        }
    }
    free(line);
    fclose(f);
    return prot;
}

static int
protect(void **slot, int prot)
{
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t page = (uintptr_t)slot & ~(uintptr_t)(pg - 1);

    return mprotect((void *)page, (size_t)pg, prot);
}

int
ep_elfhook_write(ep_elfhook *h, void *fn)
{
    int prev[EP_ELFHOOK_MAX_SLOTS];
    bool changed[EP_ELFHOOK_MAX_SLOTS] = {false};
    size_t i;

    /* Each page gets back the protection it had, which is not always
     * read-only: a slot's page may be writable (the last partial page of
     * RELRO, a lazy slot) and may hold data others write. All of them are
     * read before any is changed (two slots may share a page). Without
     * /proc/self/maps, RELRO (as glibc protects it) is the guess. */
    for (i = 0; i < h->nslots; i++) {
        prev[i] = page_prot((uintptr_t)h->slot[i]);
        if (prev[i] < 0) {
            prev[i] = h->relro[i] ? PROT_READ : PROT_READ | PROT_WRITE;
        }
    }
    /* Make every read-only slot writable first, so a failure changes
     * nothing. */
    for (i = 0; i < h->nslots; i++) {
        if (prev[i] & PROT_WRITE) {
            continue;
        }
        if (protect(h->slot[i], prev[i] | PROT_READ | PROT_WRITE) != 0) {
            int e = errno;

            while (i-- > 0) {
                if (changed[i]) {
                    protect(h->slot[i], prev[i]);
                }
            }
            return ep_error(EMBPROF_EUNSUPPORTED,
                            "%s is linked with full RELRO and its GOT "
                            "cannot be made writable (mprotect: %s)",
                            h->object[0] ? h->object : "the executable",
                            strerror(e));
        }
        changed[i] = true;
    }
    for (i = 0; i < h->nslots; i++) {
        __atomic_store_n(h->slot[i], fn, __ATOMIC_SEQ_CST);
    }
    for (i = h->nslots; i-- > 0;) {
        if (changed[i]) {
            protect(h->slot[i], prev[i]);
        }
    }
    return EMBPROF_OK;
}

void *
ep_elfhook_current(const ep_elfhook *h, size_t i)
{
    return i < h->nslots ? __atomic_load_n(h->slot[i], __ATOMIC_SEQ_CST)
                         : NULL;
}
