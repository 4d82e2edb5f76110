#include "cshim.h"

