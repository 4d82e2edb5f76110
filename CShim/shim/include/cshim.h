/* The headers the Swift core imports (the umbrella of CShim). No logic lives here. PAM is not
 * here: it is in CShim/pam (target CPAM), which the core cannot import. */
#ifndef EMAILOTP_CSHIM_H
#define EMAILOTP_CSHIM_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/file.h>
#include <syslog.h>
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <curl/curl.h>
#include "cshim_pq.h"
#include "dynload.h"
#include "curl_loader.h"
#include "crypto_loader.h"
#include "cshim_spawn.h"
#include "build_paths.h"

#endif
