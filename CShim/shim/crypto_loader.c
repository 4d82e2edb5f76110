#include "crypto_loader.h"
#include "dynload.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>

static struct cshim_loader loader = CSHIM_LOADER(CSHIM_CRYPTO_SONAME);

static const EVP_MD *(*p_sha256)(void);
static unsigned char *(*p_hmac)(const EVP_MD *, const void *, int, const unsigned char *, size_t,
                                unsigned char *, unsigned int *);
static int (*p_rand_bytes)(unsigned char *, int);
static int (*p_init_crypto)(uint64_t, const OPENSSL_INIT_SETTINGS *);

static void initialise(void)
{
    p_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
}

int cshim_crypto_load(char *error, size_t size)
{
    const struct cshim_symbol symbols[] = {
        { "EVP_sha256", (void **)&p_sha256 },
        { "HMAC", (void **)&p_hmac },
        { "RAND_bytes", (void **)&p_rand_bytes },
        { "OPENSSL_init_crypto", (void **)&p_init_crypto },
    };
    /* The first initialisation decides whether OpenSSL reads a configuration file; it must not
     * read the one OPENSSL_CONF in the caller's environment names (a user running su chooses
     * it: providers, engines, TLS settings). Once OpenSSL is initialised without one, libcurl's
     * and libpq's later requests to load it are no-ops. A process that initialised OpenSSL
     * before us keeps its own choice. */
    return cshim_load_once(&loader, symbols, sizeof symbols / sizeof symbols[0], initialise, error, size);
}

static int ready(void)
{
    return cshim_loaded(&loader);
}

int cshim_hmac_sha256(const void *key, int key_length, const unsigned char *data, size_t length,
                      unsigned char *out, unsigned int *out_length)
{
    if (!ready())
        return 0;
    return p_hmac(p_sha256(), key, key_length, data, length, out, out_length) != NULL;
}

int cshim_rand_bytes(unsigned char *buffer, int count)
{
    return ready() ? p_rand_bytes(buffer, count) : 0;
}

int cshim_timingsafe_bcmp(const void *a, const void *b, size_t length)
{
    /* OpenSSH's timingsafe_bcmp: every byte is read whatever the earlier ones were. */
    const volatile unsigned char *x = a, *y = b;
    unsigned char difference = 0;
    for (size_t i = 0; i < length; i++)
        difference |= x[i] ^ y[i];
    return difference != 0;
}
