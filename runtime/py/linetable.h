/*
 * linetable.h -- line numbers from a copied co_linetable, without the GIL
 * and without the code object (which may be gone by the time we decode).
 */
#ifndef EP_PY_LINETABLE_H
#define EP_PY_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

/* The line of the instruction at byte offset `offset` (lasti * 2), or
 * firstlineno for a negative offset, or 0 if the table has no line there.
 * kind is EP_LINETABLE_310 or EP_LINETABLE_311. Pure function. */
int ep_linetable_line(int kind, const uint8_t *tab, size_t len,
                      int firstlineno, int offset);

#endif
