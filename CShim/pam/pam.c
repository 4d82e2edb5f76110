#include "cpam.h"

#include <stdlib.h>
#include <string.h>

int cshim_pam_prompt(pam_handle_t *pamh, int style, const char *text, char **response)
{
    return pam_prompt(pamh, style, response, "%s", text);
}

int cshim_pam_message(pam_handle_t *pamh, int style, const char *text)
{
    const void *item = NULL;
    if (pam_get_item(pamh, PAM_CONV, &item) != PAM_SUCCESS || item == NULL)
        return PAM_CONV_ERR;
    const struct pam_conv *conv = item;
    if (conv->conv == NULL)
        return PAM_CONV_ERR;
    struct pam_message message = { .msg_style = style, .msg = text };
    const struct pam_message *messages = &message;
    struct pam_response *responses = NULL;
    int status = conv->conv(1, &messages, &responses, conv->appdata_ptr);
    if (responses != NULL) {
        if (responses[0].resp != NULL) {
            memset(responses[0].resp, 0, strlen(responses[0].resp));
            free(responses[0].resp);
        }
        free(responses);
    }
    return status;
}

void cshim_pam_syslog(const pam_handle_t *pamh, int priority, const char *message)
{
    pam_syslog(pamh, priority, "%s", message);
}
