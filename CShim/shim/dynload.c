#include "dynload.h"

#include <dlfcn.h>
#include <stdio.h>

void *cshim_dlopen_symbols(const char *soname, const struct cshim_symbol *symbols, size_t count,
                           char *error, size_t size)
{
    /* RTLD_LOCAL: the library's symbols must not resolve anything else in the host process
     * (sshd, sudo), which may carry other versions of the same libraries. */
    void *handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *why = dlerror();
        snprintf(error, size, "cannot load %s: %s", soname, why ? why : "unknown error");
        return NULL;
    }
    /* All or nothing: a library missing one symbol leaves every slot as it was. */
    for (size_t i = 0; i < count; i++) {
        dlerror();
        if (dlsym(handle, symbols[i].name) == NULL) {
            const char *why = dlerror();
            snprintf(error, size, "%s has no %s: %s", soname, symbols[i].name, why ? why : "null symbol");
            dlclose(handle);
            return NULL;
        }
    }
    for (size_t i = 0; i < count; i++)
        *symbols[i].slot = dlsym(handle, symbols[i].name);
    return handle;
}

int cshim_load_once(struct cshim_loader *loader, const struct cshim_symbol *symbols, size_t count,
                    void (*initialise)(void), char *error, size_t size)
{
    pthread_mutex_lock(&loader->lock);
    if (!__atomic_load_n(&loader->loaded, __ATOMIC_ACQUIRE)
        && cshim_dlopen_symbols(loader->soname, symbols, count, error, size) != NULL) {
        if (initialise != NULL)
            initialise();
        __atomic_store_n(&loader->loaded, 1, __ATOMIC_RELEASE);
    }
    int result = __atomic_load_n(&loader->loaded, __ATOMIC_ACQUIRE) ? 0 : -1;
    pthread_mutex_unlock(&loader->lock);
    return result;
}

int cshim_loaded(struct cshim_loader *loader)
{
    return __atomic_load_n(&loader->loaded, __ATOMIC_ACQUIRE);
}
