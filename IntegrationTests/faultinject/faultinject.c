/* faultinject.so -- an LD_PRELOAD library that makes chosen libc calls fail on demand, so that
 * the fault-injection tests (IntegrationTests/test_fault_injection.py) can prove that
 * pam_emailotp fails closed on every failure path (pam-u2f does the same with its wrappers).
 *
 * The test fixture compiles it into the test's temporary directory:
 *     gcc -shared -fPIC -O1 -o faultinject.so faultinject.c -ldl
 *
 * Driven by environment variables, read once when the library is loaded:
 *
 *   EMAILOTP_FAULT="RULE[;RULE...]"
 *       RULE   = OP:MATCH:ACTION[:NTH[:COUNT]]
 *       OP     = open     open, open64, openat, openat64 (MATCH: the path)
 *                read     read (MATCH: the path the descriptor refers to, from /proc/self/fd)
 *                write    write (likewise)
 *                fsync    fsync, fdatasync (likewise; a directory's descriptor gives its path)
 *                flock    flock (likewise)
 *                rename   rename, renameat, renameat2 (MATCH: the old or the new path)
 *                mkdir    mkdir, mkdirat (MATCH: the path)
 *                unlink   unlink, unlinkat (MATCH: the path)
 *                stat     stat, lstat, fstat, fstatat (MATCH: the path, or the descriptor's)
 *                any      every one of the above
 *                malloc   malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign
 *                         (MATCH: the file name of the shared object that made the call, e.g.
 *                         "pam_emailotp": allocations made by libpam, libcurl, OpenSSL or
 *                         Python are not counted then), except while dlopen() runs
 *                loadmalloc the same, only while dlopen() runs (the constructors of a
 *                         module that libpam loads: for Swift, the runtime registering
 *                         the image)
 *       MATCH  = a substring; empty matches every call of OP
 *       ACTION = an errno name (EIO, ENOSPC, EACCES, EROFS, EXDEV, ENOLCK, ENOMEM, ...) or a
 *                number: the call fails with -1 (NULL for malloc) and that errno;
 *                KILL:  the process sends itself SIGKILL at that call (a crash at an exact
 *                       point, before the call is made);
 *                SHORT: (write) only the first half of the buffer is written, a short write;
 *                PASS:  the call is made as usual, only counted and logged.
 *       NTH    = the first matching call the action applies to, counting from 1 (default 1)
 *       COUNT  = how many matching calls from NTH on it applies to (default 0 = all of them)
 *       Each rule counts its own matching calls; when several rules hit one call, the first
 *       rule in the list that acts decides.
 *
 *   EMAILOTP_FAULT_LOG=PATH
 *       one line per matching call is appended: "OP<TAB>N<TAB>PATH<TAB>ACTION" with ACTION
 *       "pass" when the call was made as usual (N is the rule's own count). The tests use it
 *       to prove that a fault really fired, and to count the calls of a clean run.
 *
 *   EMAILOTP_FAULT_ARMED=1
 *       the rules apply from the start. Otherwise they apply only after the program called
 *       faultinject_arm() (IntegrationTests/faultinject/drive.py does so right before
 *       pam_authenticate, so that Python's own start-up is left alone).
 *
 * Malloc failures: the Swift runtime traps when an allocation fails (swift_slowAlloc), which
 * is an abort of the process, not a PAM return code. The tests count such a death as failing
 * closed (sshd's or sudo's authenticating process dies; nothing is granted), and check that
 * the store stays whole.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

enum op { OP_OPEN, OP_READ, OP_WRITE, OP_FSYNC, OP_FLOCK, OP_RENAME, OP_MKDIR, OP_UNLINK,
          OP_STAT, OP_ANY, OP_MALLOC, OP_LOADMALLOC, OP_COUNT };
static const char *const op_names[OP_COUNT] = {
    "open", "read", "write", "fsync", "flock", "rename", "mkdir", "unlink", "stat", "any", "malloc",
    "loadmalloc"
};

enum action { ACT_ERRNO, ACT_KILL, ACT_SHORT, ACT_PASS };

struct rule {
    enum op op;
    char match[256];
    enum action action;
    int err;
    long nth;
    long count;
    long seen;             /* matching calls so far (atomic) */
};

#define MAX_RULES 16
static struct rule rules[MAX_RULES];
static int nrules;
static int armed;
static int have_malloc_rule;
static int log_fd = -1;
static __thread int busy;  /* re-entrancy guard: our own bookkeeping is never faulted */
static __thread int loading;  /* inside dlopen() */

static const struct { const char *name; int value; } errnos[] = {
    {"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EACCES", EACCES}, {"EPERM", EPERM},
    {"ENOENT", ENOENT}, {"EROFS", EROFS}, {"EXDEV", EXDEV}, {"ENOMEM", ENOMEM},
    {"ENOLCK", ENOLCK}, {"EINTR", EINTR}, {"EAGAIN", EAGAIN}, {"EBADF", EBADF},
    {"EMFILE", EMFILE}, {"ENFILE", ENFILE}, {"EINVAL", EINVAL}, {"EBUSY", EBUSY},
    {"ENOTDIR", ENOTDIR}, {"EEXIST", EEXIST}, {"ELOOP", ELOOP}, {"EFBIG", EFBIG},
    {"EWOULDBLOCK", EWOULDBLOCK}, {"ETXTBSY", ETXTBSY},
};

/* ------------------------------------------------------------------ setup */

static void die(const char *what, const char *detail)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "faultinject: %s: %s\n", what, detail);
    if (n > 0)
        syscall(SYS_write, 2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    _exit(111);
}

static void parse_rule(char *text)
{
    char *field[5] = {0};
    int nf = 0;
    char *p = text;
    /* OP:MATCH:ACTION[:NTH[:COUNT]] -- MATCH may be empty but holds no ':' */
    while (nf < 5) {
        field[nf++] = p;
        char *c = strchr(p, ':');
        if (!c)
            break;
        *c = 0;
        p = c + 1;
    }
    if (nf < 3)
        die("rule needs OP:MATCH:ACTION", text);
    if (nrules >= MAX_RULES)
        die("too many rules", text);
    struct rule *r = &rules[nrules];
    memset(r, 0, sizeof *r);
    r->op = OP_COUNT;
    for (int i = 0; i < OP_COUNT; i++)
        if (strcmp(field[0], op_names[i]) == 0)
            r->op = (enum op)i;
    if (r->op == OP_COUNT)
        die("unknown operation", field[0]);
    if (strlen(field[1]) >= sizeof r->match)
        die("match too long", field[1]);
    strcpy(r->match, field[1]);
    if (strcmp(field[2], "KILL") == 0) {
        r->action = ACT_KILL;
    } else if (strcmp(field[2], "SHORT") == 0) {
        r->action = ACT_SHORT;
    } else if (strcmp(field[2], "PASS") == 0) {
        r->action = ACT_PASS;
    } else {
        r->action = ACT_ERRNO;
        r->err = 0;
        for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
            if (strcmp(field[2], errnos[i].name) == 0)
                r->err = errnos[i].value;
        if (!r->err) {
            char *end;
            long v = strtol(field[2], &end, 10);
            if (*field[2] == 0 || *end != 0 || v <= 0)
                die("unknown action", field[2]);
            r->err = (int)v;
        }
    }
    r->nth = 1;
    if (nf > 3 && *field[3])
        r->nth = strtol(field[3], NULL, 10);
    if (nf > 4 && *field[4])
        r->count = strtol(field[4], NULL, 10);
    if (r->nth < 1)
        die("NTH counts from 1", text);
    if (r->op == OP_MALLOC || r->op == OP_LOADMALLOC)
        have_malloc_rule = 1;
    nrules++;
}

__attribute__((constructor)) static void faultinject_init(void)
{
    busy++;
    const char *rules = getenv("EMAILOTP_FAULT");
    if (rules && *rules) {
        static char copy[4096];
        if (strlen(rules) >= sizeof copy)
            die("EMAILOTP_FAULT too long", "");
        strcpy(copy, rules);
        char *save = NULL;
        for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save))
            if (*tok)
                parse_rule(tok);
    }
    const char *logp = getenv("EMAILOTP_FAULT_LOG");
    if (logp && *logp)
        log_fd = (int)syscall(SYS_openat, AT_FDCWD, logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    const char *a = getenv("EMAILOTP_FAULT_ARMED");
    armed = a && strcmp(a, "1") == 0;
    busy--;
}

/* Called by the driver right before the PAM transaction, and after it. */
void faultinject_arm(void) { __atomic_store_n(&armed, 1, __ATOMIC_SEQ_CST); }
void faultinject_disarm(void) { __atomic_store_n(&armed, 0, __ATOMIC_SEQ_CST); }

/* ------------------------------------------------------------------ deciding */

static void log_line(enum op op, long n, const char *path, const struct rule *r, int acted)
{
    if (log_fd < 0)
        return;
    char buf[1200];
    const char *act = "pass";
    char errbuf[16];
    if (acted) {
        if (r->action == ACT_KILL)
            act = "KILL";
        else if (r->action == ACT_SHORT)
            act = "SHORT";
        else {
            act = errbuf;
            snprintf(errbuf, sizeof errbuf, "%d", r->err);
            for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
                if (errnos[i].value == r->err) {
                    act = errnos[i].name;
                    break;
                }
        }
    }
    int len = snprintf(buf, sizeof buf, "%s\t%ld\t%s\t%s\n", op_names[op], n, path ? path : "", act);
    if (len > 0)
        syscall(SYS_write, log_fd, buf, (size_t)len < sizeof buf ? (size_t)len : sizeof buf - 1);
}

/* The rule that acts on this call, or NULL: the call goes ahead. */
static const struct rule *decide(enum op op, const char *path1, const char *path2)
{
    if (!__atomic_load_n(&armed, __ATOMIC_SEQ_CST) || busy)
        return NULL;
    busy++;
    const struct rule *acting = NULL;
    for (int i = 0; i < nrules; i++) {
        struct rule *r = &rules[i];
        if (r->op != op && !(r->op == OP_ANY && op < OP_ANY))
            continue;
        const char *hit = NULL;
        if (!r->match[0])
            hit = path1 ? path1 : "";
        else if (path1 && strstr(path1, r->match))
            hit = path1;
        else if (path2 && strstr(path2, r->match))
            hit = path2;
        if (!hit)
            continue;
        long n = __atomic_add_fetch(&r->seen, 1, __ATOMIC_SEQ_CST);
        int acts = !acting && r->action != ACT_PASS && n >= r->nth &&
                   (r->count == 0 || n < r->nth + r->count);
        log_line(op, n, op == OP_RENAME && path2 && hit == path2 ? path2 : hit, r, acts);
        if (acts)
            acting = r;
    }
    busy--;
    if (acting && acting->action == ACT_KILL)
        syscall(SYS_kill, syscall(SYS_getpid), SIGKILL);
    return acting;
}

static void fd_path(int fd, char *buf, size_t size)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    long n = syscall(SYS_readlink, link, buf, size - 1);
    buf[n > 0 ? n : 0] = 0;
}

static const struct rule *decide_fd(enum op op, int fd)
{
    if (!__atomic_load_n(&armed, __ATOMIC_SEQ_CST) || busy || nrules == 0)
        return NULL;
    char path[1024];
    busy++;
    fd_path(fd, path, sizeof path);
    busy--;
    return decide(op, path, NULL);
}

static const char *at_path(int dirfd, const char *path, char *buf, size_t size)
{
    if (!path || path[0] == '/' || dirfd == AT_FDCWD)
        return path;
    char dir[1024];
    fd_path(dirfd, dir, sizeof dir);
    snprintf(buf, size, "%s/%s", dir, path);
    return buf;
}

#define REAL(name)                                                        \
    static __typeof__(name) *real_##name;                                 \
    if (!real_##name)                                                     \
        real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

#define FAIL_ERRNO(r, value)                                              \
    do {                                                                  \
        errno = (r)->err;                                                 \
        return value;                                                     \
    } while (0)

/* ------------------------------------------------------------------ files */

static int mode_wanted(int flags) { return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE; }

#define OPEN_BODY(fn, call)                                               \
    const struct rule *r = decide(OP_OPEN, path, NULL);                   \
    if (r && r->action == ACT_ERRNO)                                      \
        FAIL_ERRNO(r, -1);                                                \
    return call

int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (mode_wanted(flags)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); }
    REAL(open);
    OPEN_BODY(open, real_open(path, flags, mode));
}

int open64(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (mode_wanted(flags)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); }
    REAL(open64);
    OPEN_BODY(open64, real_open64(path, flags, mode));
}

int openat(int dirfd, const char *rel, int flags, ...)
{
    mode_t mode = 0;
    if (mode_wanted(flags)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); }
    REAL(openat);
    char buf[2048];
    const char *path = rel;
    if (nrules && armed && !busy) path = at_path(dirfd, rel, buf, sizeof buf);
    OPEN_BODY(openat, real_openat(dirfd, rel, flags, mode));
}

int openat64(int dirfd, const char *rel, int flags, ...)
{
    mode_t mode = 0;
    if (mode_wanted(flags)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); }
    REAL(openat64);
    char buf[2048];
    const char *path = rel;
    if (nrules && armed && !busy) path = at_path(dirfd, rel, buf, sizeof buf);
    OPEN_BODY(openat64, real_openat64(dirfd, rel, flags, mode));
}

/* The interposers that differ only in the call: the rule decides from one path or descriptor
 * (`decision`); an errno rule fails the call, anything else makes the real one. */
#define INTERPOSE(ret, name, params, decision, args)                      \
    ret name params                                                       \
    {                                                                     \
        REAL(name);                                                       \
        const struct rule *r = decision;                                  \
        if (r && r->action == ACT_ERRNO)                                  \
            FAIL_ERRNO(r, -1);                                            \
        return real_##name args;                                          \
    }

/* The same for the *at forms: a path relative to a directory descriptor is resolved (through
 * /proc/self/fd) only when rules are armed, into buf and buf2. */
#define INTERPOSE_AT(ret, name, params, decision, args)                   \
    ret name params                                                       \
    {                                                                     \
        REAL(name);                                                       \
        char buf[2048], buf2[2048];                                       \
        (void)buf2;                                                       \
        const struct rule *r = NULL;                                      \
        if (nrules && armed && !busy)                                     \
            r = decision;                                                 \
        if (r && r->action == ACT_ERRNO)                                  \
            FAIL_ERRNO(r, -1);                                            \
        return real_##name args;                                          \
    }

INTERPOSE(ssize_t, read, (int fd, void *data, size_t n), decide_fd(OP_READ, fd), (fd, data, n))

ssize_t write(int fd, const void *buf, size_t n)
{
    REAL(write);
    const struct rule *r = decide_fd(OP_WRITE, fd);
    if (r && r->action == ACT_ERRNO)
        FAIL_ERRNO(r, -1);
    if (r && r->action == ACT_SHORT && n > 1)
        n /= 2;
    return real_write(fd, buf, n);
}

INTERPOSE(int, fsync, (int fd), decide_fd(OP_FSYNC, fd), (fd))
INTERPOSE(int, fdatasync, (int fd), decide_fd(OP_FSYNC, fd), (fd))
INTERPOSE(int, flock, (int fd, int operation), decide_fd(OP_FLOCK, fd), (fd, operation))
INTERPOSE(int, rename, (const char *from, const char *to), decide(OP_RENAME, from, to), (from, to))
INTERPOSE_AT(int, renameat, (int fromfd, const char *from, int tofd, const char *to),
             decide(OP_RENAME, at_path(fromfd, from, buf, sizeof buf), at_path(tofd, to, buf2, sizeof buf2)),
             (fromfd, from, tofd, to))
INTERPOSE_AT(int, renameat2, (int fromfd, const char *from, int tofd, const char *to, unsigned int flags),
             decide(OP_RENAME, at_path(fromfd, from, buf, sizeof buf), at_path(tofd, to, buf2, sizeof buf2)),
             (fromfd, from, tofd, to, flags))
INTERPOSE(int, mkdir, (const char *path, mode_t mode), decide(OP_MKDIR, path, NULL), (path, mode))
INTERPOSE_AT(int, mkdirat, (int dirfd, const char *rel, mode_t mode),
             decide(OP_MKDIR, at_path(dirfd, rel, buf, sizeof buf), NULL), (dirfd, rel, mode))
INTERPOSE(int, unlink, (const char *path), decide(OP_UNLINK, path, NULL), (path))
INTERPOSE_AT(int, unlinkat, (int dirfd, const char *rel, int flags),
             decide(OP_UNLINK, at_path(dirfd, rel, buf, sizeof buf), NULL), (dirfd, rel, flags))
INTERPOSE(int, stat, (const char *path, struct stat *st), decide(OP_STAT, path, NULL), (path, st))
INTERPOSE(int, lstat, (const char *path, struct stat *st), decide(OP_STAT, path, NULL), (path, st))
INTERPOSE(int, fstat, (int fd, struct stat *st), decide_fd(OP_STAT, fd), (fd, st))

int fstatat(int dirfd, const char *rel, struct stat *st, int flags)
{
    REAL(fstatat);
    char buf[2048];
    const struct rule *r = NULL;
    if (nrules && armed && !busy) {
        if ((flags & AT_EMPTY_PATH) && !*rel)
            r = decide_fd(OP_STAT, dirfd);
        else
            r = decide(OP_STAT, at_path(dirfd, rel, buf, sizeof buf), NULL);
    }
    if (r && r->action == ACT_ERRNO)
        FAIL_ERRNO(r, -1);
    return real_fstatat(dirfd, rel, st, flags);
}

/* ------------------------------------------------------------------ memory
 * glibc exports its allocator as __libc_*, so the hooks need no dlsym (which allocates). */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

struct range { uintptr_t lo, hi; };
#define MAX_RANGES 8
static struct range ranges[MAX_RANGES];
static int nranges = -1;   /* -1: not looked up yet (the module may not be loaded yet) */
static const char *range_match;

static int collect(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size; (void)data;
    if (!info->dlpi_name || !strstr(info->dlpi_name, range_match))
        return 0;
    for (int i = 0; i < info->dlpi_phnum && nranges < MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        ranges[nranges].lo = info->dlpi_addr + ph->p_vaddr;
        ranges[nranges].hi = ranges[nranges].lo + ph->p_memsz;
        nranges++;
    }
    return 0;
}

/* Whether an allocation made from `caller` is one the malloc rules count. */
static const char *malloc_caller(void *caller)
{
    static const char anywhere[] = "";
    const struct rule *r = NULL;
    for (int i = 0; i < nrules; i++)
        if (rules[i].op == OP_MALLOC || rules[i].op == OP_LOADMALLOC) { r = &rules[i]; break; }
    if (!r || !r->match[0])
        return anywhere;
    if (nranges <= 0) {
        nranges = 0;
        range_match = r->match;
        dl_iterate_phdr(collect, NULL);
    }
    uintptr_t a = (uintptr_t)caller;
    for (int i = 0; i < nranges; i++)
        if (a >= ranges[i].lo && a < ranges[i].hi)
            return r->match;
    return NULL;
}

static int malloc_fails(void *caller)
{
    if (!have_malloc_rule || busy || !__atomic_load_n(&armed, __ATOMIC_SEQ_CST))
        return 0;
    busy++;
    const char *who = malloc_caller(caller);
    busy--;
    if (!who)
        return 0;
    const struct rule *r = decide(loading ? OP_LOADMALLOC : OP_MALLOC, who, NULL);
    return r && r->action == ACT_ERRNO;
}

/* Only to tell allocations made while a module loads from those of its work. */
void *dlopen(const char *file, int mode)
{
    REAL(dlopen);
    loading++;
    void *handle = real_dlopen(file, mode);
    loading--;
    return handle;
}

/* An allocator that fails with ENOMEM when a malloc rule acts on its caller (`when`). */
#define INTERPOSE_ALLOC(name, params, when, call)                         \
    void *name params                                                     \
    {                                                                     \
        if ((when) && malloc_fails(__builtin_return_address(0))) {        \
            errno = ENOMEM;                                               \
            return NULL;                                                  \
        }                                                                 \
        return call;                                                      \
    }

INTERPOSE_ALLOC(malloc, (size_t n), 1, __libc_malloc(n))
INTERPOSE_ALLOC(calloc, (size_t a, size_t b), 1, __libc_calloc(a, b))
/* realloc(p, 0) frees: that is no allocation to fail. */
INTERPOSE_ALLOC(realloc, (void *p, size_t n), n != 0, __libc_realloc(p, n))

int posix_memalign(void **out, size_t align, size_t n)
{
    if (malloc_fails(__builtin_return_address(0)))
        return ENOMEM;
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

INTERPOSE_ALLOC(aligned_alloc, (size_t align, size_t n), 1, __libc_memalign(align, n))
INTERPOSE_ALLOC(memalign, (size_t align, size_t n), 1, __libc_memalign(align, n))
