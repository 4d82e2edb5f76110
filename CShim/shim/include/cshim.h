/* Typed wrappers for the C APIs that Swift cannot call (variadic functions), and the
 * headers the Swift core imports. No logic lives here. */
#ifndef EMAILOTP_CSHIM_H
#define EMAILOTP_CSHIM_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/file.h>
#include <syslog.h>
#include <crypt.h>
#include <security/pam_appl.h>
#include <security/pam_modules.h>
#include <security/pam_ext.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <curl/curl.h>
#include "cshim_pq.h"
#include "dynload.h"
#include "curl_loader.h"
#include "crypto_loader.h"

/* pam_prompt(pamh, style, response, "%s", text) */
int cshim_pam_prompt(pam_handle_t *pamh, int style, const char *text, char **response);

/* pam_syslog(pamh, priority, "%s", message) */
void cshim_pam_syslog(const pam_handle_t *pamh, int priority, const char *message);

/* curl_easy_setopt with one fixed argument type each. */
CURLcode cshim_curl_setopt_long(CURL *curl, CURLoption option, long value);
CURLcode cshim_curl_setopt_string(CURL *curl, CURLoption option, const char *value);
CURLcode cshim_curl_setopt_pointer(CURL *curl, CURLoption option, void *value);
CURLcode cshim_curl_setopt_read_function(CURL *curl, curl_read_callback callback);

#endif
