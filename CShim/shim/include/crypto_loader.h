/* libcrypto, loaded on the first HMAC or random bytes instead of at module load: an unenrolled user under nullok never needs it, and loading it costs about as
 * much as the rest of the module (docs/DESIGN.md, "Lazy loading"). */
#ifndef EMAILOTP_CRYPTO_LOADER_H
#define EMAILOTP_CRYPTO_LOADER_H

#include <stddef.h>

/* The library cshim_crypto_load opens. */
#define CSHIM_CRYPTO_SONAME "libcrypto.so.3"

/* Loads libcrypto once per process (thread-safe; a failed load is retried on the next call).
 * 0 when the functions below are usable, else -1 with the reason in `error`. */
int cshim_crypto_load(char *error, size_t size);

/* HMAC(EVP_sha256(), ...): 1 with 32 bytes in `out`, 0 on failure or before a load. */
int cshim_hmac_sha256(const void *key, int key_length, const unsigned char *data, size_t length,
                      unsigned char *out, unsigned int *out_length);

/* RAND_bytes: 1 on success, 0 on failure or before a load. */
int cshim_rand_bytes(unsigned char *buffer, int count);

/* 0 when the `length` bytes are equal, else 1, in time that depends only on `length`. Needs no
 * library: a PIN check (pam_unix's job in C) should not load libcrypto or fail without it. */
int cshim_timingsafe_bcmp(const void *a, const void *b, size_t length);

#endif
