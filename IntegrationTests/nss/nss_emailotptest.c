/* A test NSS module that maps name variants to one account, as SSSD or winbind do
 * (case-insensitive names, user@DOMAIN). Built by test_security.py, loaded only by the test's
 * pamtester through LD_LIBRARY_PATH and a bind-mounted nsswitch.conf.
 * EMAILOTP_NSS_ACCOUNT names the account; EMAILOTP_NSS_VARIANTS the other spellings (comma-separated).
 * It also serves one directory group, as LDAP or SSSD would (for `groups`): EMAILOTP_NSS_GROUP names
 * it (gid 64998), EMAILOTP_NSS_MEMBERS its members (comma-separated); getgrouplist(3) reaches it
 * through initgroups_dyn. */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

static int is_variant(const char *name) {
    const char *list = getenv("EMAILOTP_NSS_VARIANTS");
    size_t n = strlen(name);
    while (list && *list) {
        const char *end = strchr(list, ',');
        size_t len = end ? (size_t)(end - list) : strlen(list);
        if (len == n && strncmp(list, name, n) == 0) return 1;
        list = end ? end + 1 : NULL;
    }
    return 0;
}

enum nss_status _nss_emailotptest_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen,
                                             int *errnop) {
    const char *account = getenv("EMAILOTP_NSS_ACCOUNT");
    if (!account || !is_variant(name)) return NSS_STATUS_NOTFOUND;
    size_t need = strlen(account) + 1 + 2 + 2 + 10;
    if (buflen < need) { *errnop = ERANGE; return NSS_STATUS_TRYAGAIN; }
    char *p = buf;
    strcpy(p, account); pw->pw_name = p; p += strlen(account) + 1;
    strcpy(p, "x"); pw->pw_passwd = p; p += 2;
    strcpy(p, ""); pw->pw_gecos = p; p += 1;
    strcpy(p, "/"); pw->pw_dir = p; p += 2;
    strcpy(p, "/bin/false"); pw->pw_shell = p;
    pw->pw_uid = 64999;
    pw->pw_gid = 64999;
    return NSS_STATUS_SUCCESS;
}

static int in_list(const char *list, const char *name) {
    size_t n = strlen(name);
    while (list && *list) {
        const char *end = strchr(list, ',');
        size_t len = end ? (size_t)(end - list) : strlen(list);
        if (len == n && strncmp(list, name, n) == 0) return 1;
        list = end ? end + 1 : NULL;
    }
    return 0;
}

#define TEST_GID 64998

enum nss_status _nss_emailotptest_getgrnam_r(const char *name, struct group *gr, char *buf, size_t buflen,
                                             int *errnop) {
    const char *group = getenv("EMAILOTP_NSS_GROUP");
    if (!group || strcmp(group, name) != 0) return NSS_STATUS_NOTFOUND;
    size_t need = strlen(group) + 1 + 2 + sizeof(char *) * 2 + 8;
    if (buflen < need) { *errnop = ERANGE; return NSS_STATUS_TRYAGAIN; }
    char *p = buf;
    strcpy(p, group); gr->gr_name = p; p += strlen(group) + 1;
    strcpy(p, "x"); gr->gr_passwd = p; p += 2;
    /* no member list: membership is answered by initgroups_dyn, as sssd does for large groups */
    char **members = (char **)(((size_t)p + sizeof(char *) - 1) & ~(sizeof(char *) - 1));
    members[0] = NULL;
    gr->gr_mem = members;
    gr->gr_gid = TEST_GID;
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_emailotptest_initgroups_dyn(const char *user, gid_t skip, long int *start, long int *size,
                                                 gid_t **groupsp, long int limit, int *errnop) {
    (void)skip;
    if (!getenv("EMAILOTP_NSS_GROUP") || !in_list(getenv("EMAILOTP_NSS_MEMBERS"), user)) return NSS_STATUS_NOTFOUND;
    if (*start == *size) {
        long int grown = *size ? *size * 2 : 8;
        if (limit > 0 && grown > limit) grown = limit;
        if (grown <= *size) return NSS_STATUS_SUCCESS;
        gid_t *more = realloc(*groupsp, (size_t)grown * sizeof(gid_t));
        if (!more) { *errnop = ENOMEM; return NSS_STATUS_TRYAGAIN; }
        *groupsp = more;
        *size = grown;
    }
    (*groupsp)[(*start)++] = TEST_GID;
    return NSS_STATUS_SUCCESS;
}
