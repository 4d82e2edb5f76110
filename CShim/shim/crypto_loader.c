#include "crypto_loader.h"
#include "dynload.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <string.h>

static struct cshim_loader loader = CSHIM_LOADER(CSHIM_CRYPTO_SONAME);

/* SHA-256 through libcrypto's low-level functions (deprecated since OpenSSL 3.0, exported by
 * every libcrypto.so.3), not HMAC()/EVP: those fetch the algorithm from a provider, and the
 * first fetch of a process builds OpenSSL's name map and method stores, about 4.6 M
 * instructions, twice what the HMAC's process pays for loading libcrypto (docs/DESIGN.md,
 * "Lazy loading"). The HMAC around it (RFC 2104) is cshim_hmac_sha256 below. */
static int (*p_sha256_init)(SHA256_CTX *);
static int (*p_sha256_update)(SHA256_CTX *, const void *, size_t);
static int (*p_sha256_final)(unsigned char *, SHA256_CTX *);
static int (*p_rand_bytes)(unsigned char *, int);
static int (*p_init_crypto)(uint64_t, const OPENSSL_INIT_SETTINGS *);

static void initialise(void)
{
    p_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
}

int cshim_crypto_load(char *error, size_t size)
{
    const struct cshim_symbol symbols[] = {
        { "SHA256_Init", (void **)&p_sha256_init },
        { "SHA256_Update", (void **)&p_sha256_update },
        { "SHA256_Final", (void **)&p_sha256_final },
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

/* SHA-256 of `a` then `b` into `out` (32 bytes): 1, or 0 when a SHA256_* call fails. */
static int sha256_two(const void *a, size_t a_length, const void *b, size_t b_length, unsigned char *out)
{
    SHA256_CTX context;
    int ok = p_sha256_init(&context) && p_sha256_update(&context, a, a_length)
             && p_sha256_update(&context, b, b_length) && p_sha256_final(out, &context);
    explicit_bzero(&context, sizeof context);
    return ok;
}

int cshim_hmac_sha256(const void *key, int key_length, const unsigned char *data, size_t length,
                      unsigned char *out, unsigned int *out_length)
{
    *out_length = 0;
    if (!ready() || key_length < 0 || (key == NULL && key_length > 0) || (data == NULL && length > 0))
        return 0;
    /* RFC 2104 with a 64-byte block: a longer key is hashed first, a shorter one padded with
     * zeros; H((K ^ opad) || H((K ^ ipad) || data)). */
    unsigned char block[SHA256_CBLOCK] = { 0 }, pad[SHA256_CBLOCK], inner[SHA256_DIGEST_LENGTH];
    int ok = 1;
    if ((size_t)key_length > sizeof block)
        ok = sha256_two(key, (size_t)key_length, "", 0, block);
    else if (key_length > 0)
        memcpy(block, key, (size_t)key_length);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = block[i] ^ 0x36;
    ok = ok && sha256_two(pad, sizeof pad, data, length, inner);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = block[i] ^ 0x5c;
    ok = ok && sha256_two(pad, sizeof pad, inner, sizeof inner, out);
    explicit_bzero(block, sizeof block);
    explicit_bzero(pad, sizeof pad);
    explicit_bzero(inner, sizeof inner);
    if (!ok) {
        explicit_bzero(out, SHA256_DIGEST_LENGTH);
        return 0;
    }
    *out_length = SHA256_DIGEST_LENGTH;
    return 1;
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
