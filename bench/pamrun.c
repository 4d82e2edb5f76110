/* One PAM transaction in a fresh process, as pamtester runs one, for bench.py's whole-process
 * cases: pam_start_confdir(SERVICE, USER, conv, CONFDIR), pam_authenticate, pam_end.
 *
 *     pamrun CONFDIR SERVICE USER [ANSWER...]    exit status: pam_authenticate's result
 *     pamrun --dlopen SONAME                     prints the ns one dlopen(RTLD_NOW) took
 *     pamrun --rss COMMAND [ARG...]              runs COMMAND, prints its peak RSS in KiB
 *
 * Prompts are answered with the ANSWERs in order (echo on or off alike); info and error
 * messages are printed on stdout, one a line.
 * libpam's fail delay is replaced by a no-op: pam_emailotp and pam_unix ask for 2 s after a
 * failure, which would measure nothing but sleep. */
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
        responses[i].resp = strdup(answers->items[answers->next++]);
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
    if (argc < 4) {
        fprintf(stderr, "usage: pamrun CONFDIR SERVICE USER [ANSWER...] | --dlopen SONAME | --rss COMMAND...\n");
        return 2;
    }
    struct answers answers = { argv + 4, argc - 4, 0 };
    struct pam_conv conv = { converse, &answers };
    pam_handle_t *pamh = NULL;
    int rc = pam_start_confdir(argv[2], argv[3], &conv, argv[1], &pamh);
    if (rc != PAM_SUCCESS)
        return 100 + rc;
    rc = pam_set_item(pamh, PAM_FAIL_DELAY, (const void *)no_delay);
    if (rc == PAM_SUCCESS)
        rc = pam_authenticate(pamh, 0);
    pam_end(pamh, rc);
    return rc;
}
