/*
 * An app whose descriptor has no call function: the server must refuse it.
 */
#include <gateway.h>

static const gateway_app_descriptor nocall_app = {
    .abi_version = GATEWAY_ABI_VERSION,
    .name = "nocall",
    .call = NULL,
};

GATEWAY_EXPORT_APP(nocall_app)
