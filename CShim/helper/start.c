/* Runs before the Swift runtime and its constructors (priority 101 comes first), which read
 * SWIFT_* variables: a caller that runs the setuid helper directly hands it an environment, a
 * signal mask and dispositions, and resource limits of its choice. None of it survives. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/auxv.h>
#include "cshim_helper.h"
#include "cshim_spawn.h"

static int started_secure;
/* clearenv() would leave environ NULL, which the Swift runtime walks without a check; a new
 * array would move environ away from argv, where the runtime finds the arguments. The
 * caller's array is emptied where it is. */
extern char **environ;

__attribute__((constructor(101))) static void helper_start(void)
{
    if (getauxval(AT_SECURE) == 0)
        return;
    if (environ != NULL)
        environ[0] = NULL;
    cshim_reset_signals();
    cshim_reset_limits();
    started_secure = 1;
}

int cshim_helper_started_secure(void)
{
    return started_secure;
}
