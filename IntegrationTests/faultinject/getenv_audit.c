/* LD_PRELOAD interposer for the getenv audit (IntegrationTests/hostile/test_getenv_audit.py):
 * records every getenv/secure_getenv a process makes, with the object the call came from, as
 * "PID<TAB>FUNCTION<TAB>NAME<TAB>OBJECT" lines appended to $GETENV_AUDIT_LOG. Calls from inside
 * libc (tzset, setlocale) do not pass through the PLT and are not seen; the audit is about the
 * module and the libraries it loads, which call through it.
 *
 *     cc -shared -fPIC -o getenv_audit.so getenv_audit.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *(*real_getenv)(const char *);
static char *(*real_secure_getenv)(const char *);
static int log_fd = -2;

static void resolve(void)
{
    if (real_getenv == NULL)
        real_getenv = (char *(*)(const char *))dlsym(RTLD_NEXT, "getenv");
    if (real_secure_getenv == NULL)
        real_secure_getenv = (char *(*)(const char *))dlsym(RTLD_NEXT, "secure_getenv");
    if (log_fd == -2) {
        const char *path = real_getenv ? real_getenv("GETENV_AUDIT_LOG") : NULL;
        log_fd = path ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;
    }
}

static void note(const char *function, const char *name, void *caller)
{
    if (log_fd < 0 || name == NULL)
        return;
    Dl_info info;
    const char *object = "?";
    if (dladdr(caller, &info) != 0 && info.dli_fname != NULL)
        object = info.dli_fname;
    char line[1024];
    int n = snprintf(line, sizeof line, "%d\t%s\t%s\t%s\n", (int)getpid(), function, name, object);
    if (n > 0)
        (void)!write(log_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

char *getenv(const char *name)
{
    resolve();
    note("getenv", name, __builtin_return_address(0));
    return real_getenv ? real_getenv(name) : NULL;
}

char *secure_getenv(const char *name)
{
    resolve();
    note("secure_getenv", name, __builtin_return_address(0));
    return real_secure_getenv ? real_secure_getenv(name) : NULL;
}
