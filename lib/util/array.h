/* Growing a malloc'd array without aborting on OOM (for library code that returns errors). */
#ifndef CD_UTIL_ARRAY_H
#define CD_UTIL_ARRAY_H

#include <stdlib.h>

/* Make *arrp (an array of `el`-byte items, *cap of them) hold at least `need`, doubling.
 * arrp is the address of the array pointer. 0, or -1 when out of memory (nothing changed). */
static inline int cd_array_reserve(void *arrp, size_t *cap, size_t need, size_t el)
{
    void **arr = arrp;
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * el);
    if (!p)
        return -1;
    *arr = p;
    *cap = n;
    return 0;
}

#endif
