/* Loading a shared library only on the path that needs it (docs/DESIGN.md, "Lazy loading"). */
#ifndef EMAILOTP_DYNLOAD_H
#define EMAILOTP_DYNLOAD_H

#include <stddef.h>

/* One symbol to resolve and where its address goes. */
struct cshim_symbol {
    const char *name;
    void **slot;
};

/* dlopen(soname, RTLD_NOW | RTLD_LOCAL), then dlsym of every entry of `symbols` into its slot.
 * Returns the handle, or NULL with dlerror()'s text (prefixed with `soname`) in `error`; on
 * failure no slot is changed and the library is closed again. */
void *cshim_dlopen_symbols(const char *soname, const struct cshim_symbol *symbols, size_t count,
                           char *error, size_t size);

#endif
