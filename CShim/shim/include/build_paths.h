#ifndef CSHIM_BUILD_PATHS_H
#define CSHIM_BUILD_PATHS_H

/* The paths compiled into the module, the command and the helper. Package.swift sets them from
   one build option, EMAILOTP_PREFIX (default /usr/local, install.sh's layout; the Debian package
   builds with /usr). */
const char *cshim_build_helper_path(void);
const char *cshim_build_config_path(void);
const char *cshim_build_store_path(void);

#endif
