/*
 * An app whose init aborts: the worker dies while booting and the master
 * must treat it as a boot failure, not respawn it forever.
 */
#include <gateway.h>

#include <stdlib.h>

static int crashinit_init(gateway_init *init)
{
    (void)init;
    abort();
}

static int crashinit_call(gateway_request *r)
{
    (void)r;
    return GATEWAY_ERROR;
}

static const gateway_app_descriptor crashinit_app = {
    .abi_version = GATEWAY_ABI_VERSION,
    .name = "crashinit",
    .init = crashinit_init,
    .call = crashinit_call,
};

GATEWAY_EXPORT_APP(crashinit_app)
