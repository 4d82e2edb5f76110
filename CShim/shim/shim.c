#include "cshim.h"

int cshim_pam_prompt(pam_handle_t *pamh, int style, const char *text, char **response)
{
    return pam_prompt(pamh, style, response, "%s", text);
}

void cshim_pam_syslog(const pam_handle_t *pamh, int priority, const char *message)
{
    pam_syslog(pamh, priority, "%s", message);
}

CURLcode cshim_curl_setopt_long(CURL *curl, CURLoption option, long value)
{
    return curl_easy_setopt(curl, option, value);
}

CURLcode cshim_curl_setopt_string(CURL *curl, CURLoption option, const char *value)
{
    return curl_easy_setopt(curl, option, value);
}

CURLcode cshim_curl_setopt_pointer(CURL *curl, CURLoption option, void *value)
{
    return curl_easy_setopt(curl, option, value);
}

CURLcode cshim_curl_setopt_read_function(CURL *curl, curl_read_callback callback)
{
    return curl_easy_setopt(curl, CURLOPT_READFUNCTION, callback);
}
