/* The PAM side of the C shim: libpam's headers and typed wrappers for its variadic
 * functions. Only the module (Sources/PAMModule) and the `emailotp demo` PAM application
 * import it; the core (EmailOTPCore) cannot see PAM. No logic lives here. */
#ifndef EMAILOTP_CPAM_H
#define EMAILOTP_CPAM_H

#include <syslog.h>
#include <security/pam_appl.h>
#include <security/pam_modules.h>
#include <security/pam_ext.h>

/* pam_prompt(pamh, style, response, "%s", text) */
int cshim_pam_prompt(pam_handle_t *pamh, int style, const char *text, char **response);

/* One PAM_TEXT_INFO or PAM_ERROR_MSG through the application's conversation function, like
 * pam_prompt without its err-level "conversation failed" line: an application may refuse a
 * message (FreeRADIUS refuses error messages), which is no fault of the login. */
int cshim_pam_message(pam_handle_t *pamh, int style, const char *text);

/* pam_syslog(pamh, priority, "%s", message) */
void cshim_pam_syslog(const pam_handle_t *pamh, int priority, const char *message);

#endif
