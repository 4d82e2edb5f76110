#include "build_paths.h"

/* Package.swift always defines these; the fallbacks are install.sh's layout. */
#ifndef EMAILOTP_HELPER_PATH
#define EMAILOTP_HELPER_PATH "/usr/local/libexec/emailotp-helper"
#endif
#ifndef EMAILOTP_CONFIG_PATH
#define EMAILOTP_CONFIG_PATH "/etc/security/emailotp.conf"
#endif
#ifndef EMAILOTP_STORE_PATH
#define EMAILOTP_STORE_PATH "/var/lib/emailotp"
#endif

const char *cshim_build_helper_path(void) { return EMAILOTP_HELPER_PATH; }
const char *cshim_build_config_path(void) { return EMAILOTP_CONFIG_PATH; }
const char *cshim_build_store_path(void) { return EMAILOTP_STORE_PATH; }
