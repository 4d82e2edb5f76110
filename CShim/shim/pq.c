#include "cshim_pq.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

extern char **environ;

static struct {
    cshim_pgconn *(*connectdb_params)(const char *const *, const char *const *, int);
    int (*status)(const cshim_pgconn *);
    char *(*error_message)(const cshim_pgconn *);
    int (*socket)(const cshim_pgconn *);
    int (*set_nonblocking)(cshim_pgconn *, int);
    int (*flush)(cshim_pgconn *);
    void (*finish)(cshim_pgconn *);
    int (*send_query_params)(cshim_pgconn *, const char *, int, const unsigned int *, const char *const *,
                             const int *, const int *, int);
    int (*consume_input)(cshim_pgconn *);
    int (*is_busy)(cshim_pgconn *);
    cshim_pgresult *(*get_result)(cshim_pgconn *);
    int (*result_status)(const cshim_pgresult *);
    char *(*result_error_message)(const cshim_pgresult *);
    char *(*result_error_field)(const cshim_pgresult *, int);
    int (*ntuples)(const cshim_pgresult *);
    int (*nfields)(const cshim_pgresult *);
    int (*getisnull)(const cshim_pgresult *, int, int);
    char *(*getvalue)(const cshim_pgresult *, int, int);
    void (*clear)(cshim_pgresult *);
} pq;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;
static char load_error[256];

/* dlsym into a typed pointer (POSIX allows the object-to-function pointer conversion). */
#define BIND(field, name)                                                                   \
    do {                                                                                    \
        *(void **)(&pq.field) = dlsym(handle, name);                                        \
        if (pq.field == NULL) {                                                             \
            snprintf(load_error, sizeof load_error, "libpq.so.5 lacks %s", name);           \
            return;                                                                         \
        }                                                                                   \
    } while (0)

static void load(void)
{
    /* Never dlclosed: libpq registers OpenSSL and thread state that must outlive the store. */
    void *handle = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *why = dlerror();
        snprintf(load_error, sizeof load_error, "cannot load libpq.so.5 (install libpq5): %s", why ? why : "unknown");
        return;
    }
    BIND(connectdb_params, "PQconnectdbParams");
    BIND(status, "PQstatus");
    BIND(error_message, "PQerrorMessage");
    BIND(socket, "PQsocket");
    BIND(set_nonblocking, "PQsetnonblocking");
    BIND(flush, "PQflush");
    BIND(finish, "PQfinish");
    BIND(send_query_params, "PQsendQueryParams");
    BIND(consume_input, "PQconsumeInput");
    BIND(is_busy, "PQisBusy");
    BIND(get_result, "PQgetResult");
    BIND(result_status, "PQresultStatus");
    BIND(result_error_message, "PQresultErrorMessage");
    BIND(result_error_field, "PQresultErrorField");
    BIND(ntuples, "PQntuples");
    BIND(nfields, "PQnfields");
    BIND(getisnull, "PQgetisnull");
    BIND(getvalue, "PQgetvalue");
    BIND(clear, "PQclear");
    loaded = 1;
}

int cshim_pq_load(char *error, size_t size)
{
    pthread_once(&load_once, load);
    if (loaded) return 0;
    if (error != NULL && size > 0) snprintf(error, size, "%s", load_error);
    return -1;
}

cshim_pgconn *cshim_pq_connect(const char *const *keywords, const char *const *values)
{
    char *empty[] = {NULL};
    char **saved = environ;
    environ = empty;
    cshim_pgconn *conn = pq.connectdb_params(keywords, values, 1);
    environ = saved;
    return conn;
}

int cshim_pq_status(const cshim_pgconn *conn) { return pq.status(conn); }
const char *cshim_pq_error_message(const cshim_pgconn *conn) { return pq.error_message(conn); }
int cshim_pq_socket(const cshim_pgconn *conn) { return pq.socket(conn); }
int cshim_pq_set_nonblocking(cshim_pgconn *conn, int on) { return pq.set_nonblocking(conn, on); }
int cshim_pq_flush(cshim_pgconn *conn) { return pq.flush(conn); }
void cshim_pq_finish(cshim_pgconn *conn) { pq.finish(conn); }

int cshim_pq_send_query_params(cshim_pgconn *conn, const char *command, int count, const char *const *values)
{
    return pq.send_query_params(conn, command, count, NULL, values, NULL, NULL, 0);
}

int cshim_pq_consume_input(cshim_pgconn *conn) { return pq.consume_input(conn); }
int cshim_pq_is_busy(cshim_pgconn *conn) { return pq.is_busy(conn); }
cshim_pgresult *cshim_pq_get_result(cshim_pgconn *conn) { return pq.get_result(conn); }
int cshim_pq_result_status(const cshim_pgresult *result) { return pq.result_status(result); }
const char *cshim_pq_result_error_message(const cshim_pgresult *result) { return pq.result_error_message(result); }
const char *cshim_pq_result_error_field(const cshim_pgresult *result, int field) { return pq.result_error_field(result, field); }
int cshim_pq_ntuples(const cshim_pgresult *result) { return pq.ntuples(result); }
int cshim_pq_nfields(const cshim_pgresult *result) { return pq.nfields(result); }
int cshim_pq_getisnull(const cshim_pgresult *result, int row, int column) { return pq.getisnull(result, row, column); }
const char *cshim_pq_getvalue(const cshim_pgresult *result, int row, int column) { return pq.getvalue(result, row, column); }
void cshim_pq_clear(cshim_pgresult *result) { pq.clear(result); }
