/* Linked into emailotp-helper only (never into the module: its constructor would clear su's
 * environment). */
#ifndef EMAILOTP_CSHIM_HELPER_H
#define EMAILOTP_CSHIM_HELPER_H

/* syslog(priority, "%s", message): Swift cannot call the variadic syslog(3). */
void cshim_syslog(int priority, const char *message);

#endif
