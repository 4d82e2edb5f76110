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
