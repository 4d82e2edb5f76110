/* One PAM transaction in a fresh process, as pamtester runs one, for bench.py's whole-process
 * cases: pam_start_confdir(SERVICE, USER, conv, CONFDIR), pam_authenticate, pam_end.
 *
 *     pamrun [--rhost HOST] [--ruid UID] CONFDIR SERVICE USER [ANSWER...]
 *                                                exit status: pam_authenticate's result
 *     pamrun --dlopen SONAME                     prints the ns one dlopen(RTLD_NOW) took
 *     pamrun --rss COMMAND [ARG...]              runs COMMAND, prints its peak RSS in KiB
 *
 * Prompts are answered with the ANSWERs in order (echo on or off alike); an ANSWER "-" is read
 * as one line from standard input when its prompt comes (the prompt is printed first), so a
 * test can answer with the code of a mail sent meanwhile. Info and error messages are
 * printed on stdout, one a line. --rhost sets PAM_RHOST; --ruid UID (as root) sets the real
 * uid to UID before pam_start, keeping euid 0: a setuid application without AT_SECURE, so
 * that an LD_PRELOAD audit library still loads.
 * libpam's fail delay is replaced by a no-op: pam_emailotp and pam_unix ask for 2 s after a
 * failure, which would measure nothing but sleep. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <security/pam_appl.h>

struct answers {
    char **items;
    int count;
    int next;
};

static int converse(int count, const struct pam_message **messages, struct pam_response **out, void *data)
{
    struct answers *answers = data;
    struct pam_response *responses = calloc((size_t)count, sizeof *responses);
    if (responses == NULL)
        return PAM_BUF_ERR;
    for (int i = 0; i < count; i++) {
        int style = messages[i]->msg_style;
        if (style != PAM_PROMPT_ECHO_OFF && style != PAM_PROMPT_ECHO_ON) {
            printf("%s\n", messages[i]->msg ? messages[i]->msg : "");
            continue;
        }
        if (answers->next >= answers->count) {
            for (int j = 0; j < i; j++)
                free(responses[j].resp);
            free(responses);
            return PAM_CONV_ERR;
        }
        const char *answer = answers->items[answers->next++];
        if (strcmp(answer, "-") == 0) {
            char line[4096];
            printf("%s\n", messages[i]->msg ? messages[i]->msg : "");
            fflush(stdout);
            if (fgets(line, sizeof line, stdin) == NULL) {
                for (int j = 0; j < i; j++)
                    free(responses[j].resp);
                free(responses);
                return PAM_CONV_ERR;
            }
            line[strcspn(line, "\n")] = 0;
            responses[i].resp = strdup(line);
        } else {
            responses[i].resp = strdup(answer);
        }
    }
    *out = responses;
    return PAM_SUCCESS;
}

static void no_delay(int status, unsigned delay, void *data)
{
    (void)status, (void)delay, (void)data;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--dlopen") == 0) {
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        void *handle = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
        clock_gettime(CLOCK_MONOTONIC, &end);
        if (handle == NULL) {
            fprintf(stderr, "pamrun: %s\n", dlerror());
            return 1;
        }
        printf("%lld\n", (long long)(end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec));
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "--rss") == 0) {
        /* A process's peak RSS includes its parent's at fork time: pamrun is small, a Python
         * parent is not. */
        pid_t pid = fork();
        if (pid == 0) {
            execvp(argv[2], argv + 2);
            _exit(127);
        }
        int status = 0;
        struct rusage usage;
        if (pid < 0 || wait4(pid, &status, 0, &usage) != pid)
            return 1;
        printf("%ld\n", usage.ru_maxrss);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }
    const char *rhost = NULL;
    while (argc >= 3 && (strcmp(argv[1], "--rhost") == 0 || strcmp(argv[1], "--ruid") == 0)) {
        if (strcmp(argv[1], "--rhost") == 0) {
            rhost = argv[2];
        } else if (setresuid((uid_t)strtoul(argv[2], NULL, 10), geteuid(), geteuid()) != 0) {
            perror("pamrun: setresuid");
            return 2;
        }
        argc -= 2;
        argv += 2;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: pamrun [--rhost HOST] [--ruid UID] CONFDIR SERVICE USER [ANSWER...] | --dlopen SONAME | --rss COMMAND...\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct answers answers = { argv + 4, argc - 4, 0 };
    struct pam_conv conv = { converse, &answers };
    pam_handle_t *pamh = NULL;
    int rc = pam_start_confdir(argv[2], argv[3], &conv, argv[1], &pamh);
    if (rc != PAM_SUCCESS)
        return 100 + rc;
    if (rhost != NULL)
        pam_set_item(pamh, PAM_RHOST, rhost);
    rc = pam_set_item(pamh, PAM_FAIL_DELAY, (const void *)no_delay);
    if (rc == PAM_SUCCESS)
        rc = pam_authenticate(pamh, 0);
    pam_end(pamh, rc);
    return rc;
}
