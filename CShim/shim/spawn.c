#define _GNU_SOURCE
#include "cshim_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

/* Only async-signal-safe calls between fork and exec: the parent may be threaded. */
pid_t cshim_spawn_as(const char *path, char *const argv[], char *const envp[],
                     uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups, int out_fd)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        return pid;

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
    if (setsid() < 0)
        _exit(127);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull < 0)
        _exit(127);
    if (dup2(out_fd, 1) < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 2) < 0)
        _exit(127);
    if (close_range(3, ~0U, 0) != 0) {
        for (int fd = 3; fd < 65536; fd++)
            close(fd);
    }
    if (setgroups(ngroups, groups) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
        _exit(127);
    if (uid != 0 && setuid(0) == 0)
        _exit(127);
    execve(path, argv, envp);
    _exit(127);
}

int cshim_pipe_cloexec(int fds[2])
{
    return pipe2(fds, O_CLOEXEC);
}
