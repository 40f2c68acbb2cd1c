/* fuzz_money.c - libFuzzer harness for money parsing (money.h): any bytes as "CCC amount". What
 * money_parse() accepts must format back to the same value (money_format() then money_parse()
 * round-trips exactly), and nothing may crash or overflow. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char currency[4], text[128], buf[MONEY_FMT_MAX];
    int64_t minor, again;

    if (size < 4 || size - 4 >= sizeof(text))
        return 0;
    memcpy(currency, data, 3);
    currency[3] = '\0';
    /* data[3] picks the flags; the rest is the amount's text (NUL-terminated copy). */
    unsigned flags = data[3] & 1 ? MONEY_ALLOW_NEGATIVE : 0;
    memcpy(text, data + 4, size - 4);
    text[size - 4] = '\0';

    if (money_parse(text, currency, flags, &minor) != MONEY_OK)
        return 0;
    if (money_format(minor, currency, buf, sizeof(buf)) < 0)
        abort(); /* parsed in a currency it cannot format */
    if (money_parse(buf, currency, MONEY_ALLOW_NEGATIVE, &again) != MONEY_OK || again != minor)
        abort(); /* the round trip lost or changed the amount */
    int64_t sum;
    (void)money_add(minor, minor, &sum);
    (void)money_sub(0, minor, &sum);
    return 0;
}
