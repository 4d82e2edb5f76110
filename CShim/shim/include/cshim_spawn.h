/* posix_spawn(3) cannot run a program as another user; this is the fork + exec that can
 * (address_command). No logic beyond what exec as another user needs. */
#ifndef EMAILOTP_CSHIM_SPAWN_H
#define EMAILOTP_CSHIM_SPAWN_H

#include <stddef.h>
#include <sys/types.h>
#include <grp.h>
#include <pwd.h>
#include <poll.h>

/* Runs `path` with `argv` and `envp` as uid/gid with the supplementary `groups`, in a new
 * session (its process group id is its pid), stdin and stderr on /dev/null, stdout on
 * `out_fd`, every other descriptor closed and every signal at its default. Returns the pid,
 * or -errno when fork fails; a child that cannot drop privileges or exec exits with 127. */
pid_t cshim_spawn_as(const char *path, char *const argv[], char *const envp[],
                     uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups, int out_fd);

/* pipe2(fds, O_CLOEXEC): glibc declares it only under _GNU_SOURCE. */
int cshim_pipe_cloexec(int fds[2]);

#endif
