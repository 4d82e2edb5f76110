#ifndef EMAILOTP_CPAMENTRY_H
#define EMAILOTP_CPAMENTRY_H
#include <security/pam_modules.h>

/* Implemented in Swift (Sources/PAMModule) with @_cdecl. */
int emailotp_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv);
#endif
