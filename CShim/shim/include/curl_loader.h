/* libcurl, loaded on the first SMTP mail instead of at module load: the module's NEEDED list
 * stays free of libcurl and the ~30 libraries it pulls in (docs/DESIGN.md, "Lazy loading").
 * <curl/curl.h> still provides the types and constants; every call goes through these. */
#ifndef EMAILOTP_CURL_LOADER_H
#define EMAILOTP_CURL_LOADER_H

#include <stddef.h>
#include <curl/curl.h>

/* The library cshim_curl_load opens. */
#define CSHIM_CURL_SONAME "libcurl.so.4"

/* Loads libcurl once per process (thread-safe; a failed load is retried on the next call).
 * 0 when the functions below are usable, else -1 with the reason in `error`. */
int cshim_curl_load(char *error, size_t size);

/* The libcurl functions the SMTP mailer uses, through the loaded library. Before a successful
 * cshim_curl_load they fail: NULL, CURLE_FAILED_INIT, or do nothing. */
CURL *cshim_curl_easy_init(void);
void cshim_curl_easy_cleanup(CURL *curl);
CURLcode cshim_curl_easy_perform(CURL *curl);
const char *cshim_curl_easy_strerror(CURLcode code);
struct curl_slist *cshim_curl_slist_append(struct curl_slist *list, const char *text);
void cshim_curl_slist_free_all(struct curl_slist *list);

/* curl_easy_setopt (variadic, which Swift cannot call) with one fixed argument type each. */
CURLcode cshim_curl_setopt_long(CURL *curl, CURLoption option, long value);
CURLcode cshim_curl_setopt_string(CURL *curl, CURLoption option, const char *value);
CURLcode cshim_curl_setopt_pointer(CURL *curl, CURLoption option, void *value);
CURLcode cshim_curl_setopt_read_function(CURL *curl, curl_read_callback callback);

/* Shuts down (shutdown(2), both ways) the socket of the connection libcurl keeps after a
 * transfer, so that curl_easy_cleanup's QUIT fails at once instead of waiting for a reply.
 * -1 when there is no such connection. */
int cshim_curl_shutdown_connection(CURL *curl);

/* Option values whose C type depends on the libcurl version: curl.h 7.88 declares CURLUSESSL_ALL
 * an enum constant, 8.14 a `#define ... 3L`, which Swift imports as a different type. */
long cshim_curl_usessl_all(void);

#endif
