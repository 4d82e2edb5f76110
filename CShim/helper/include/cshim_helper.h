/* Linked into emailotp-helper only (never into the module: it would clear su's environment). */
#ifndef EMAILOTP_CSHIM_HELPER_H
#define EMAILOTP_CSHIM_HELPER_H

/* 1 when the process was started setuid (AT_SECURE) and the constructor below cleared the
 * environment, reset the signals and the resource limits before anything else ran. */
int cshim_helper_started_secure(void);

#endif
