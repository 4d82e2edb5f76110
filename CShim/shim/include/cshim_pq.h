/* libpq, loaded with dlopen("libpq.so.5") only when a PostgreSQL store is configured, so that
 * hosts with the file store never map it. Each function calls the libpq function of the same
 * name through a typed pointer. The types and constants are those of libpq-fe.h, which is the
 * stable ABI of libpq.so.5; no libpq header is needed to build. */
#ifndef EMAILOTP_CSHIM_PQ_H
#define EMAILOTP_CSHIM_PQ_H

#include <stddef.h>

typedef struct pg_conn cshim_pgconn;
typedef struct pg_result cshim_pgresult;

enum {
    CSHIM_CONNECTION_OK = 0,
    CSHIM_CONNECTION_BAD = 1,
    CSHIM_PGRES_COMMAND_OK = 1,
    CSHIM_PGRES_TUPLES_OK = 2,
    CSHIM_PG_DIAG_SQLSTATE = 'C',
    CSHIM_PG_DIAG_SEVERITY_NONLOCALIZED = 'V',
    /* PostgresPollingStatusType */
    CSHIM_PGRES_POLLING_FAILED = 0,
    CSHIM_PGRES_POLLING_READING = 1,
    CSHIM_PGRES_POLLING_WRITING = 2,
    CSHIM_PGRES_POLLING_OK = 3,
};

/* The library cshim_pq_load opens. */
#define CSHIM_PQ_SONAME "libpq.so.5"

/* Loads libpq once per process (thread-safe; a failed load is retried on the next call), after
 * libcrypto (crypto_loader.h). 0 on success; otherwise -1 and a reason in `error`. */
int cshim_pq_load(char *error, size_t size);

/* Connects with `conninfo` (a URI or key=value string) and nothing from the environment, which
 * belongs to the user in sudo and su: libpq fills every keyword left unset from PGHOST,
 * PGHOSTADDR, PGSSLROOTCERT, PGOPTIONS, …, so every keyword whose variable is set gets an
 * explicit value (libpq's compiled-in default, or empty for none). `default_*` (NULL-terminated
 * keyword and value arrays, or NULL) fill keywords the conninfo leaves unset; `override_*`
 * replace what it says. The environment is only read, never changed. PGSERVICE is the one
 * variable still consulted (no value of `service` means "none"): it can make the connection
 * fail, not redirect it, since every keyword a variable backs is then set. The connection is
 * only started (PQconnectStartParams): drive it with cshim_pq_connect_poll until it reports
 * CSHIM_PGRES_POLLING_OK or _FAILED, waiting on cshim_pq_socket as it asks. NULL with a reason
 * in `error` when the conninfo does not parse or memory ran out. Only host `host_index` (from 0)
 * of a multi-host conninfo is tried (item `host_index` of the host, hostaddr and port lists; a
 * list of one item serves every host); `*host_count` gets the number of hosts. */
cshim_pgconn *cshim_pq_connect(const char *conninfo, const char *const *default_keywords,
                               const char *const *default_values, const char *const *override_keywords,
                               const char *const *override_values, int host_index, int *host_count,
                               char *error, size_t size);

/* PQconnectPoll. */
int cshim_pq_connect_poll(cshim_pgconn *conn);
/* 1 when libpq's own parser (PQconninfoParse) finds a password in `conninfo` (user:password@ in
 * a URI, a password parameter, percent-encoded or not), 0 when not; -1 when libpq cannot be
 * loaded or the conninfo does not parse. */
int cshim_pq_conninfo_has_password(const char *conninfo);

int cshim_pq_status(const cshim_pgconn *conn);
const char *cshim_pq_error_message(const cshim_pgconn *conn);
int cshim_pq_socket(const cshim_pgconn *conn);
int cshim_pq_set_nonblocking(cshim_pgconn *conn, int on);
int cshim_pq_flush(cshim_pgconn *conn);
void cshim_pq_finish(cshim_pgconn *conn);
/* PQsendQueryParams with text parameters and text results. */
int cshim_pq_send_query_params(cshim_pgconn *conn, const char *command, int count, const char *const *values);
/* PQsendQuery: the simple protocol, several statements, no parameters. */
int cshim_pq_send_query(cshim_pgconn *conn, const char *command);
int cshim_pq_consume_input(cshim_pgconn *conn);
int cshim_pq_is_busy(cshim_pgconn *conn);
cshim_pgresult *cshim_pq_get_result(cshim_pgconn *conn);
int cshim_pq_result_status(const cshim_pgresult *result);
const char *cshim_pq_result_error_message(const cshim_pgresult *result);
const char *cshim_pq_result_error_field(const cshim_pgresult *result, int field);
int cshim_pq_ntuples(const cshim_pgresult *result);
int cshim_pq_nfields(const cshim_pgresult *result);
int cshim_pq_getisnull(const cshim_pgresult *result, int row, int column);
const char *cshim_pq_getvalue(const cshim_pgresult *result, int row, int column);
void cshim_pq_clear(cshim_pgresult *result);

/* Replaces libpq's notice processor (which prints to standard error, the PAM application's) with
 * one that only counts the server's WARNINGs, per thread: cshim_pq_take_warnings returns the count
 * since its last call and resets it. A COMMIT whose wait for a synchronous standby was cancelled
 * returns success with such a WARNING. */
void cshim_pq_count_warnings(cshim_pgconn *conn);
int cshim_pq_take_warnings(void);

/* Asks the server to cancel what `conn`'s backend runs (PQgetCancel, PQcancel) from a detached
 * thread, so that the caller does not block on the cancel connection (PQcancel blocks, without a
 * deadline of its own): the caller waits for the interrupted statement's result on `conn`, within
 * its own deadline. 0 when the request is under way, -1 when it could not be started. */
int cshim_pq_cancel_detached(cshim_pgconn *conn);

#endif
