/* The one fork + exec of the project (System/Process.swift): posix_spawn(3) can neither run a
 * program as another user nor reset what the caller of a setuid program chose (limits, signal
 * dispositions, session). No logic beyond what exec needs. */
#ifndef EMAILOTP_CSHIM_SPAWN_H
#define EMAILOTP_CSHIM_SPAWN_H

#include <stddef.h>
#include <sys/types.h>
#include <grp.h>
#include <pwd.h>
#include <poll.h>

struct cshim_spawn_request {
    const char *path;
    char *const *argv;
    char *const *envp;
    /* Standard input and output of the child; -1 = /dev/null. Standard error is /dev/null. */
    int stdin_fd;
    int stdout_fd;
    /* 1: become uid/gid with the supplementary `groups` (every id: real, effective, saved). */
    int set_ids;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t ngroups;
    /* 1: the personality back to PER_LINUX before exec (the clean process: what else the caller
     * chose, the helper resets on itself). */
    int reset_personality;
};

/* Runs the request in a new session (its process group id is its pid), every signal at its
 * default and none blocked, every descriptor but 0, 1, 2 closed. Returns the pid, or -errno
 * when fork fails; a child that cannot set up or exec exits with 127. Only async-signal-safe
 * calls between fork and exec: the parent may be threaded. */
pid_t cshim_spawn(const struct cshim_spawn_request *request);

/* What a clean process starts from (the helper's sanitiser, CShim/helper/start.c, calls them
 * on itself): every resource limit at the system's default, every signal disposition at its
 * default and none blocked. */
void cshim_reset_limits(void);
void cshim_reset_signals(void);

/* The name of the first resource limit still below what a login needs (a hard limit the
 * caller lowered cannot be raised without CAP_SYS_RESOURCE), or NULL. */
const char *cshim_insufficient_limit(void);

/* pipe2(fds, O_CLOEXEC) and socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC): glibc declares
 * pipe2 only under _GNU_SOURCE, and Swift does not see the SOCK_* flags as Int32. */
int cshim_pipe_cloexec(int fds[2]);
int cshim_socketpair_cloexec(int fds[2]);

/* getauxval(AT_SECURE): the program was started setuid, setgid or with capabilities. */
int cshim_at_secure(void);

#endif
