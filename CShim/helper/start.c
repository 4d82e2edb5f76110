/* The helper's one sanitiser: its first code, a constructor that runs on every start (setuid
 * from an application that is not root, the module's clean child, root) before the Swift
 * runtime and its constructors (priority 101 comes first), which read SWIFT_* variables.
 * Whatever the caller handed down goes: the environment, descriptors beyond 0-2 (and 0-2 are
 * open, on /dev/null if the caller closed them), signal dispositions and mask, resource limits,
 * the nice value, the personality and the umask. SIGPIPE is ignored: the caller may close its
 * end of the socket. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include "cshim_helper.h"
#include "cshim_spawn.h"

/* clearenv() would leave environ NULL, which the Swift runtime walks without a check; a new
 * array would move environ away from argv, where the runtime finds the arguments. The
 * caller's array is emptied where it is. */
extern char **environ;

__attribute__((constructor(101))) static void helper_start(void)
{
    if (environ != NULL)
        environ[0] = NULL;
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) == -1) {
            int null = open("/dev/null", O_RDWR);
            if (null >= 0 && null != fd) {
                dup2(null, fd);
                close(null);
            }
        }
    }
    closefrom(3);
    cshim_reset_signals();
    /* Raising a hard limit again needs root: the helper not installed setuid root refuses anyway. */
    if (geteuid() == 0)
        cshim_reset_limits();
    umask(077);
    signal(SIGPIPE, SIG_IGN);
}

void cshim_syslog(int priority, const char *message)
{
    syslog(priority, "%s", message);
}
