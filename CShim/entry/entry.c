/* The PAM entry points. They only hand over to the Swift core. */
#include "cpamentry.h"

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return emailotp_authenticate(pamh, flags, argc, argv);
}

/* The module sets no credentials; like pam_u2f it reports success so that stacks
 * calling pam_setcred do not fail on it. */
PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh; (void)flags; (void)argc; (void)argv;
    return PAM_SUCCESS;
}
