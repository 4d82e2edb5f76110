#include "cshim_pq.h"
#include "crypto_loader.h"
#include "dynload.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first part of libpq-fe.h's PQconninfoOption, which is its stable ABI. */
struct cshim_pqoption {
    char *keyword;
    char *envvar;
    char *compiled;
    char *val;
    char *label;
    char *dispchar;
    int dispsize;
};

static struct cshim_loader loader = CSHIM_LOADER(CSHIM_PQ_SONAME);

static cshim_pgconn *(*p_connect_start_params)(const char *const *, const char *const *, int);
static int (*p_connect_poll)(cshim_pgconn *);
static struct cshim_pqoption *(*p_conninfo_parse)(const char *, char **);
static void (*p_conninfo_free)(struct cshim_pqoption *);
static void (*p_freemem)(void *);
static int (*p_status)(const cshim_pgconn *);
static char *(*p_error_message)(const cshim_pgconn *);
static int (*p_socket)(const cshim_pgconn *);
static int (*p_set_nonblocking)(cshim_pgconn *, int);
static int (*p_flush)(cshim_pgconn *);
static void (*p_finish)(cshim_pgconn *);
static int (*p_send_query_params)(cshim_pgconn *, const char *, int, const unsigned int *, const char *const *,
                                  const int *, const int *, int);
static int (*p_send_query)(cshim_pgconn *, const char *);
static int (*p_consume_input)(cshim_pgconn *);
static int (*p_is_busy)(cshim_pgconn *);
static cshim_pgresult *(*p_get_result)(cshim_pgconn *);
static int (*p_result_status)(const cshim_pgresult *);
static char *(*p_result_error_message)(const cshim_pgresult *);
static char *(*p_result_error_field)(const cshim_pgresult *, int);
static int (*p_ntuples)(const cshim_pgresult *);
static int (*p_nfields)(const cshim_pgresult *);
static int (*p_getisnull)(const cshim_pgresult *, int, int);
static char *(*p_getvalue)(const cshim_pgresult *, int, int);
static void (*p_clear)(cshim_pgresult *);
static void *(*p_get_cancel)(cshim_pgconn *);
static int (*p_cancel)(void *, char *, int);
static void (*p_free_cancel)(void *);
static void *(*p_set_notice_receiver)(cshim_pgconn *, void (*)(void *, const cshim_pgresult *), void *);

int cshim_pq_load(char *error, size_t size)
{
    const struct cshim_symbol symbols[] = {
        { "PQconnectStartParams", (void **)&p_connect_start_params },
        { "PQconnectPoll", (void **)&p_connect_poll },
        { "PQconninfoParse", (void **)&p_conninfo_parse },
        { "PQconninfoFree", (void **)&p_conninfo_free },
        { "PQfreemem", (void **)&p_freemem },
        { "PQstatus", (void **)&p_status },
        { "PQerrorMessage", (void **)&p_error_message },
        { "PQsocket", (void **)&p_socket },
        { "PQsetnonblocking", (void **)&p_set_nonblocking },
        { "PQflush", (void **)&p_flush },
        { "PQfinish", (void **)&p_finish },
        { "PQsendQueryParams", (void **)&p_send_query_params },
        { "PQsendQuery", (void **)&p_send_query },
        { "PQconsumeInput", (void **)&p_consume_input },
        { "PQisBusy", (void **)&p_is_busy },
        { "PQgetResult", (void **)&p_get_result },
        { "PQresultStatus", (void **)&p_result_status },
        { "PQresultErrorMessage", (void **)&p_result_error_message },
        { "PQresultErrorField", (void **)&p_result_error_field },
        { "PQntuples", (void **)&p_ntuples },
        { "PQnfields", (void **)&p_nfields },
        { "PQgetisnull", (void **)&p_getisnull },
        { "PQgetvalue", (void **)&p_getvalue },
        { "PQclear", (void **)&p_clear },
        { "PQgetCancel", (void **)&p_get_cancel },
        { "PQcancel", (void **)&p_cancel },
        { "PQfreeCancel", (void **)&p_free_cancel },
        { "PQsetNoticeReceiver", (void **)&p_set_notice_receiver },
    };
    /* libcrypto first, initialised without the caller's OPENSSL_CONF (crypto_loader.c), before
     * libpq's TLS setup could read it. */
    if (cshim_crypto_load(error, size) != 0)
        return -1;
    /* libpq registers OpenSSL and thread state that must outlive the store. */
    return cshim_load_once(&loader, symbols, sizeof symbols / sizeof symbols[0], NULL, error, size);
}

static int ready(void)
{
    return cshim_loaded(&loader);
}

/* A growing text buffer; `failed` once an allocation failed. */
struct text {
    char *bytes;
    size_t length, capacity;
    int failed;
};

static void append(struct text *text, const char *bytes, size_t count)
{
    if (text->failed)
        return;
    if (text->length + count + 1 > text->capacity) {
        size_t capacity = (text->length + count + 1) * 2;
        char *grown = realloc(text->bytes, capacity);
        if (grown == NULL) {
            text->failed = 1;
            return;
        }
        text->bytes = grown;
        text->capacity = capacity;
    }
    memcpy(text->bytes + text->length, bytes, count);
    text->length += count;
    text->bytes[text->length] = '\0';
}

/* keyword='value' with ' and \ escaped, as libpq's key=value syntax reads it. */
static void append_setting(struct text *text, const char *keyword, const char *value)
{
    append(text, keyword, strlen(keyword));
    append(text, "='", 2);
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\'' || *p == '\\')
            append(text, "\\", 1);
        append(text, p, 1);
    }
    append(text, "' ", 2);
}

static const char *lookup(const char *const *keywords, const char *const *values, const char *keyword)
{
    for (size_t i = 0; keywords != NULL && keywords[i] != NULL; i++)
        if (strcmp(keywords[i], keyword) == 0)
            return values[i];
    return NULL;
}

/* The number of comma-separated items of a host, hostaddr or port list. */
static int list_length(const char *value)
{
    int count = 1;
    for (const char *p = value; *p != '\0'; p++)
        if (*p == ',')
            count++;
    return count;
}

/* Item `index` of a comma-separated list, or its only item (one port serves every host); the
 * bounds of the item in `value` go to `*start` and `*length`. */
static void list_item(const char *value, int index, const char **start, size_t *length)
{
    if (list_length(value) == 1)
        index = 0;
    const char *p = value;
    for (int i = 0; i < index; i++) {
        const char *comma = strchr(p, ',');
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    const char *end = strchr(p, ',');
    *start = p;
    *length = end != NULL ? (size_t)(end - p) : strlen(p);
}

static int is_host_list(const char *keyword)
{
    return strcmp(keyword, "host") == 0 || strcmp(keyword, "hostaddr") == 0 || strcmp(keyword, "port") == 0;
}

cshim_pgconn *cshim_pq_connect(const char *conninfo, const char *const *default_keywords,
                               const char *const *default_values, const char *const *override_keywords,
                               const char *const *override_values, int host_index, int *host_count,
                               char *error, size_t size)
{
    if (host_count != NULL)
        *host_count = 1;
    if (error != NULL && size > 0)
        error[0] = '\0';
    if (!ready()) {
        if (error != NULL && size > 0)
            snprintf(error, size, "libpq is not loaded");
        return NULL;
    }
    /* PQconninfoParse adds no defaults: what it returns set is what the configuration says. */
    char *why = NULL;
    struct cshim_pqoption *options = p_conninfo_parse(conninfo, &why);
    if (options == NULL) {
        if (error != NULL && size > 0)
            snprintf(error, size, "%s", why != NULL ? why : "out of memory");
        if (why != NULL)
            p_freemem(why);
        return NULL;
    }
    int service = getenv("PGSERVICE") != NULL;
    struct text text = { NULL, 0, 0, 0 };
    append(&text, "", 0);
    for (struct cshim_pqoption *option = options; option->keyword != NULL; option++) {
        const char *value = lookup(override_keywords, override_values, option->keyword);
        if (value == NULL)
            value = option->val;
        if (value == NULL)
            value = lookup(default_keywords, default_values, option->keyword);
        /* A keyword left unset is filled from its environment variable (PQconnectdbParams),
         * or from the service PGSERVICE names: where that variable is set, or a service is,
         * the keyword gets libpq's compiled-in default, or the empty value that stands for
         * "none" (an explicit empty value in a key=value string is a setting, unlike an empty
         * entry of the keyword arrays). `service` itself has no such value (an empty one names
         * a service too), so PGSERVICE is still read: it can make the connection fail, and
         * reach only keywords that no variable backs (keepalives, replication). */
        if (value == NULL && option->envvar != NULL && strcmp(option->keyword, "service") != 0
            && (service || getenv(option->envvar) != NULL
                || (strcmp(option->keyword, "sslmode") == 0 && getenv("PGREQUIRESSL") != NULL)))
            value = option->compiled != NULL ? option->compiled : "";
        if (value != NULL && is_host_list(option->keyword)) {
            /* One host at a time, so that the caller can give each its share of the time. */
            if (strcmp(option->keyword, "port") != 0 && host_count != NULL && list_length(value) > *host_count)
                *host_count = list_length(value);
            const char *start;
            size_t length;
            list_item(value, host_index, &start, &length);
            char *item = strndup(start, length);
            if (item == NULL) {
                text.failed = 1;
                continue;
            }
            append_setting(&text, option->keyword, item);
            free(item);
        } else if (value != NULL) {
            append_setting(&text, option->keyword, value);
        }
    }
    p_conninfo_free(options);
    if (text.failed) {
        free(text.bytes);
        if (error != NULL && size > 0)
            snprintf(error, size, "out of memory");
        return NULL;
    }
    /* One connection string, expanded once: its values, empty ones included, are settings.
     * Started without waiting: the caller drives cshim_pq_connect_poll within its deadline. */
    const char *const keywords[] = { "dbname", NULL };
    const char *const values[] = { text.bytes, NULL };
    cshim_pgconn *conn = p_connect_start_params(keywords, values, 1);
    free(text.bytes);
    if (conn == NULL && error != NULL && size > 0)
        snprintf(error, size, "out of memory");
    return conn;
}

int cshim_pq_connect_poll(cshim_pgconn *conn) { return p_connect_poll(conn); }

int cshim_pq_conninfo_has_password(const char *conninfo)
{
    char error[16];
    if (cshim_pq_load(error, sizeof error) != 0)
        return -1;
    char *why = NULL;
    struct cshim_pqoption *options = p_conninfo_parse(conninfo, &why);
    if (options == NULL) {
        if (why != NULL)
            p_freemem(why);
        return -1;
    }
    int found = 0;
    for (struct cshim_pqoption *option = options; option->keyword != NULL; option++)
        if (strcmp(option->keyword, "password") == 0 && option->val != NULL)
            found = 1;
    p_conninfo_free(options);
    return found;
}

int cshim_pq_status(const cshim_pgconn *conn) { return p_status(conn); }
const char *cshim_pq_error_message(const cshim_pgconn *conn) { return p_error_message(conn); }
int cshim_pq_socket(const cshim_pgconn *conn) { return p_socket(conn); }
int cshim_pq_set_nonblocking(cshim_pgconn *conn, int on) { return p_set_nonblocking(conn, on); }
int cshim_pq_flush(cshim_pgconn *conn) { return p_flush(conn); }
void cshim_pq_finish(cshim_pgconn *conn) { p_finish(conn); }

int cshim_pq_send_query_params(cshim_pgconn *conn, const char *command, int count, const char *const *values)
{
    return p_send_query_params(conn, command, count, NULL, values, NULL, NULL, 0);
}

int cshim_pq_send_query(cshim_pgconn *conn, const char *command) { return p_send_query(conn, command); }
int cshim_pq_consume_input(cshim_pgconn *conn) { return p_consume_input(conn); }
int cshim_pq_is_busy(cshim_pgconn *conn) { return p_is_busy(conn); }
cshim_pgresult *cshim_pq_get_result(cshim_pgconn *conn) { return p_get_result(conn); }
int cshim_pq_result_status(const cshim_pgresult *result) { return p_result_status(result); }
const char *cshim_pq_result_error_message(const cshim_pgresult *result) { return p_result_error_message(result); }
const char *cshim_pq_result_error_field(const cshim_pgresult *result, int field) { return p_result_error_field(result, field); }
int cshim_pq_ntuples(const cshim_pgresult *result) { return p_ntuples(result); }
int cshim_pq_nfields(const cshim_pgresult *result) { return p_nfields(result); }
int cshim_pq_getisnull(const cshim_pgresult *result, int row, int column) { return p_getisnull(result, row, column); }
const char *cshim_pq_getvalue(const cshim_pgresult *result, int row, int column) { return p_getvalue(result, row, column); }
void cshim_pq_clear(cshim_pgresult *result) { p_clear(result); }

/* The WARNINGs received on this thread since the last cshim_pq_take_warnings. libpq calls the
 * receiver on the thread that reads the connection's input. */
static __thread int warnings;

static void count_warning(void *arg, const cshim_pgresult *result)
{
    (void)arg;
    const char *severity = p_result_error_field(result, CSHIM_PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity != NULL && strcmp(severity, "WARNING") == 0)
        warnings++;
}

void cshim_pq_count_warnings(cshim_pgconn *conn) { p_set_notice_receiver(conn, count_warning, NULL); }

int cshim_pq_take_warnings(void)
{
    int seen = warnings;
    warnings = 0;
    return seen;
}

static void *send_cancel(void *cancel)
{
    char error[256];
    p_cancel(cancel, error, (int)sizeof error);
    p_free_cancel(cancel);
    return NULL;
}

int cshim_pq_cancel_detached(cshim_pgconn *conn)
{
    void *cancel = p_get_cancel(conn);
    if (cancel == NULL)
        return -1;
    /* The thread takes no signal of the process: they stay the caller's. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_attr_t attributes;
    if (pthread_attr_init(&attributes) != 0) {
        p_free_cancel(cancel);
        return -1;
    }
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t thread;
    int failed = pthread_create(&thread, &attributes, send_cancel, cancel);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attributes);
    if (failed != 0) {
        p_free_cancel(cancel);
        return -1;
    }
    return 0;
}
