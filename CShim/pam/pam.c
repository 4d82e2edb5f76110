#include "cpam.h"

int cshim_pam_prompt(pam_handle_t *pamh, int style, const char *text, char **response)
{
    return pam_prompt(pamh, style, response, "%s", text);
}

void cshim_pam_syslog(const pam_handle_t *pamh, int priority, const char *message)
{
    pam_syslog(pamh, priority, "%s", message);
}
