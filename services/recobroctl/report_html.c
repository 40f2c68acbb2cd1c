/* report_html.c - placeholder */
#include "report.h"
int report_write_html(FILE *out, const json_t *doc)
{
    (void)doc;
    fputs("<!doctype html>\n", out);
    return 0;
}
