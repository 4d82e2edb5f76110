/* Loading a shared library only on the path that needs it (docs/DESIGN.md, "Lazy loading"). */
#ifndef EMAILOTP_DYNLOAD_H
#define EMAILOTP_DYNLOAD_H

#include <pthread.h>
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

/* A library loaded at most once per process, on first use. */
struct cshim_loader {
    const char *soname;
    pthread_mutex_t lock;
    int loaded;
};
#define CSHIM_LOADER(soname) { soname, PTHREAD_MUTEX_INITIALIZER, 0 }

/* Loads `loader`'s library and `symbols` unless already loaded (thread-safe), then calls
 * `initialise` (may be NULL) once, under the same lock. A failed load changes no slot and is
 * retried on the next call. 0 when loaded, else -1 with the reason in `error`. The handle is
 * never closed: the module itself is never unloaded (-z nodelete), and these libraries keep
 * process-wide state that does not survive an unload. */
int cshim_load_once(struct cshim_loader *loader, const struct cshim_symbol *symbols, size_t count,
                    void (*initialise)(void), char *error, size_t size);

/* Whether cshim_load_once succeeded (the slots are usable). */
int cshim_loaded(struct cshim_loader *loader);

#endif
