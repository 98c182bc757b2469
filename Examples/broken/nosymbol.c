/*
 * A valid shared object that does not export gateway_app: the server must
 * refuse it, naming the missing symbol.
 */
#include <gateway.h>

__attribute__((visibility("default")))
const gateway_app_descriptor *not_the_gateway_app(void);

static const gateway_app_descriptor descriptor = {
    .abi_version = GATEWAY_ABI_VERSION,
    .name = "nosymbol",
};

const gateway_app_descriptor *not_the_gateway_app(void)
{
    return &descriptor;
}
