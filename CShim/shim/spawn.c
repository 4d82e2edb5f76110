#define _GNU_SOURCE
#include "cshim_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct limit_default {
    int resource;
    rlim_t soft;
    rlim_t hard;
};

/* The kernel's and Debian's defaults for a root login; nothing a caller chose survives. */
static const struct limit_default limit_defaults[] = {
    { RLIMIT_CPU, RLIM_INFINITY, RLIM_INFINITY },
    { RLIMIT_FSIZE, RLIM_INFINITY, RLIM_INFINITY },
    { RLIMIT_DATA, RLIM_INFINITY, RLIM_INFINITY },
    { RLIMIT_STACK, 8 * 1024 * 1024, RLIM_INFINITY },
    { RLIMIT_CORE, 0, 0 },
    { RLIMIT_RSS, RLIM_INFINITY, RLIM_INFINITY },
    { RLIMIT_NPROC, RLIM_INFINITY, RLIM_INFINITY },
    { RLIMIT_NOFILE, 1024, 4096 },
    { RLIMIT_MEMLOCK, 8 * 1024 * 1024, 8 * 1024 * 1024 },
    { RLIMIT_AS, RLIM_INFINITY, RLIM_INFINITY },
    { RLIMIT_LOCKS, RLIM_INFINITY, RLIM_INFINITY },
    { RLIMIT_SIGPENDING, 4096, 4096 },
    { RLIMIT_MSGQUEUE, 819200, 819200 },
    { RLIMIT_NICE, 0, 0 },
    { RLIMIT_RTPRIO, 0, 0 },
    { RLIMIT_RTTIME, RLIM_INFINITY, RLIM_INFINITY },
};

void cshim_reset_limits(void)
{
    for (size_t i = 0; i < sizeof limit_defaults / sizeof limit_defaults[0]; i++) {
        struct rlimit limit = { limit_defaults[i].soft, limit_defaults[i].hard };
        if (setrlimit(limit_defaults[i].resource, &limit) != 0) {
            /* Without the right to raise the hard limit: at least the soft one up to it. */
            struct rlimit current;
            if (getrlimit(limit_defaults[i].resource, &current) == 0) {
                current.rlim_cur = current.rlim_max;
                setrlimit(limit_defaults[i].resource, &current);
            }
        }
    }
    setpriority(PRIO_PROCESS, 0, 0);
    personality(PER_LINUX);
    umask(077);
}

struct limit_minimum {
    int resource;
    const char *name;
    rlim_t minimum;
};

/* What a login needs at least: a record, a mail file or a key written whole, descriptors for
 * the store, the mail and a child, memory for yescrypt and OpenSSL, time for a slow server. */
static const struct limit_minimum limit_minimums[] = {
    { RLIMIT_FSIZE, "RLIMIT_FSIZE", 64 * 1024 * 1024 },
    { RLIMIT_NOFILE, "RLIMIT_NOFILE", 256 },
    { RLIMIT_AS, "RLIMIT_AS", (rlim_t)1 << 30 },
    { RLIMIT_DATA, "RLIMIT_DATA", (rlim_t)1 << 30 },
    { RLIMIT_STACK, "RLIMIT_STACK", 4 * 1024 * 1024 },
    { RLIMIT_CPU, "RLIMIT_CPU", 300 },
};

const char *cshim_insufficient_limit(void)
{
    for (size_t i = 0; i < sizeof limit_minimums / sizeof limit_minimums[0]; i++) {
        struct rlimit current;
        if (getrlimit(limit_minimums[i].resource, &current) != 0)
            return limit_minimums[i].name;
        if (current.rlim_cur != RLIM_INFINITY && current.rlim_cur < limit_minimums[i].minimum)
            return limit_minimums[i].name;
    }
    return NULL;
}

void cshim_reset_signals(void)
{
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* `fd` onto `target` without close-on-exec, whatever descriptor `fd` already is. */
static int place(int fd, int target)
{
    if (fd == target)
        return fcntl(fd, F_SETFD, 0);
    return dup2(fd, target) < 0 ? -1 : 0;
}

pid_t cshim_spawn(const struct cshim_spawn_request *r)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        return pid;

    cshim_reset_signals();
    if (setsid() < 0)
        _exit(127);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        _exit(127);
    /* First above 2, so that a descriptor that already is 0, 1 or 2 (an application started
     * with its standard descriptors closed) is not overwritten before it is placed. */
    int in = fcntl(r->stdin_fd >= 0 ? r->stdin_fd : devnull, F_DUPFD_CLOEXEC, 3);
    int out = fcntl(r->stdout_fd >= 0 ? r->stdout_fd : devnull, F_DUPFD_CLOEXEC, 3);
    int err = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
    if (in < 0 || out < 0 || err < 0)
        _exit(127);
    if (place(in, 0) != 0 || place(out, 1) != 0 || place(err, 2) != 0)
        _exit(127);
    if (close_range(3, ~0U, 0) != 0) {
        for (int fd = 3; fd < 65536; fd++)
            close(fd);
    }
    /* Its flags (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC) shape the address space at exec, before
     * any code of the program runs; a setuid exec clears them, this one is root's to root's. */
    if (r->reset_personality)
        personality(PER_LINUX);
    if (r->set_ids) {
        if (setgroups(r->ngroups, r->groups) != 0 || setresgid(r->gid, r->gid, r->gid) != 0
            || setresuid(r->uid, r->uid, r->uid) != 0)
            _exit(127);
        if (r->uid != 0 && setuid(0) == 0)
            _exit(127);
    }
    execve(r->path, r->argv, r->envp);
    _exit(127);
}

int cshim_pipe_cloexec(int fds[2])
{
    return pipe2(fds, O_CLOEXEC);
}

int cshim_socketpair_cloexec(int fds[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}

int cshim_at_secure(void)
{
    return getauxval(AT_SECURE) != 0;
}
