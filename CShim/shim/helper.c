#define _GNU_SOURCE
#include <unistd.h>
#include "cshim.h"

void cshim_syslog(int priority, const char *message)
{
    syslog(priority, "%s", message);
}

void cshim_closefrom(int lowfd)
{
    closefrom(lowfd);
}
