/* A test NSS module that maps name variants to one account, as SSSD or winbind do
 * (case-insensitive names, user@DOMAIN). Built by test_security.py, loaded only by the test's
 * pamtester through LD_LIBRARY_PATH and a bind-mounted nsswitch.conf.
 * EMAILOTP_NSS_ACCOUNT names the account; EMAILOTP_NSS_VARIANTS the other spellings (comma-separated). */
#include <errno.h>
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
