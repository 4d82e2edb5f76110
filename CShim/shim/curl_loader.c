#include "cshim.h"
#include "curl_loader.h"
#include "dynload.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>

static struct cshim_loader loader = CSHIM_LOADER(CSHIM_CURL_SONAME);

static CURL *(*p_easy_init)(void);
static void (*p_easy_cleanup)(CURL *);
static CURLcode (*p_easy_perform)(CURL *);
static const char *(*p_easy_strerror)(CURLcode);
static CURLcode (*p_easy_setopt)(CURL *, CURLoption, ...);
static struct curl_slist *(*p_slist_append)(struct curl_slist *, const char *);
static void (*p_slist_free_all)(struct curl_slist *);
static CURLcode (*p_easy_getinfo)(CURL *, CURLINFO, ...);

int cshim_curl_load(char *error, size_t size)
{
    const struct cshim_symbol symbols[] = {
        { "curl_easy_init", (void **)&p_easy_init },
        { "curl_easy_cleanup", (void **)&p_easy_cleanup },
        { "curl_easy_perform", (void **)&p_easy_perform },
        { "curl_easy_strerror", (void **)&p_easy_strerror },
        { "curl_easy_setopt", (void **)&p_easy_setopt },
        { "curl_slist_append", (void **)&p_slist_append },
        { "curl_slist_free_all", (void **)&p_slist_free_all },
        { "curl_easy_getinfo", (void **)&p_easy_getinfo },
    };
    /* libcrypto first: it is initialised without the caller's OPENSSL_CONF before libcurl's
     * own initialisation could read it (crypto_loader.c). */
    if (cshim_crypto_load(error, size) != 0)
        return -1;
    return cshim_load_once(&loader, symbols, sizeof symbols / sizeof symbols[0], NULL, error, size);
}

static int ready(void)
{
    return cshim_loaded(&loader);
}

CURL *cshim_curl_easy_init(void)
{
    return ready() ? p_easy_init() : NULL;
}

void cshim_curl_easy_cleanup(CURL *curl)
{
    if (ready())
        p_easy_cleanup(curl);
}

CURLcode cshim_curl_easy_perform(CURL *curl)
{
    return ready() ? p_easy_perform(curl) : CURLE_FAILED_INIT;
}

const char *cshim_curl_easy_strerror(CURLcode code)
{
    return ready() ? p_easy_strerror(code) : "libcurl is not loaded";
}

struct curl_slist *cshim_curl_slist_append(struct curl_slist *list, const char *text)
{
    return ready() ? p_slist_append(list, text) : NULL;
}

void cshim_curl_slist_free_all(struct curl_slist *list)
{
    if (ready())
        p_slist_free_all(list);
}

CURLcode cshim_curl_setopt_long(CURL *curl, CURLoption option, long value)
{
    return ready() ? p_easy_setopt(curl, option, value) : CURLE_FAILED_INIT;
}

CURLcode cshim_curl_setopt_string(CURL *curl, CURLoption option, const char *value)
{
    return ready() ? p_easy_setopt(curl, option, value) : CURLE_FAILED_INIT;
}

CURLcode cshim_curl_setopt_pointer(CURL *curl, CURLoption option, void *value)
{
    return ready() ? p_easy_setopt(curl, option, value) : CURLE_FAILED_INIT;
}

CURLcode cshim_curl_setopt_read_function(CURL *curl, curl_read_callback callback)
{
    return ready() ? p_easy_setopt(curl, CURLOPT_READFUNCTION, callback) : CURLE_FAILED_INIT;
}

int cshim_curl_shutdown_connection(CURL *curl)
{
    curl_socket_t sock = CURL_SOCKET_BAD;
    if (!ready() || p_easy_getinfo(curl, CURLINFO_ACTIVESOCKET, &sock) != CURLE_OK || sock == CURL_SOCKET_BAD)
        return -1;
    return shutdown(sock, SHUT_RDWR);
}

long cshim_curl_usessl_all(void)
{
    return (long)CURLUSESSL_ALL;
}
