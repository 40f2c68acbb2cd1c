/* probe.c - a would-be domain object that calls libpq, for the test that proves the layering
 * check (cmake/check_layers.cmake) fails on one. Built into its own library, linked nowhere. */
void *PQexec(void *conn, const char *query);
void layers_probe(void);

void layers_probe(void)
{
    (void)PQexec((void *)0, "SELECT 1");
}
