/* result.c - the reason an input was refused (see result.h). */
#include "result.h"

#include <stdarg.h>
#include <stdio.h>

int reason_set(reason_t *r, const char *code, const char *fmt, ...)
{
    va_list ap;

    r->code = code;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
    return -1;
}
