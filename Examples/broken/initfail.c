/*
 * An app whose init fails with "database unreachable": the worker must not
 * boot and the master must log that message.
 */
#include <gateway.h>

#include <stdio.h>

static int initfail_init(gateway_init *init)
{
    if (init->error != NULL && init->error_size > 0)
        snprintf(init->error, init->error_size, "%s", "database unreachable");
    return 1;
}

static int initfail_call(gateway_request *r)
{
    (void)r;
    return GATEWAY_ERROR;
}

static const gateway_app_descriptor initfail_app = {
    .abi_version = GATEWAY_ABI_VERSION,
    .name = "initfail",
    .init = initfail_init,
    .call = initfail_call,
};

GATEWAY_EXPORT_APP(initfail_app)
