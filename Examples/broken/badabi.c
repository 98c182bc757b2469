/*
 * An app built for ABI version 99: the server must refuse it and name both
 * versions (the app's 99 and its own).
 */
#include <gateway.h>

static int badabi_call(gateway_request *r)
{
    (void)r;
    return GATEWAY_ERROR;
}

static const gateway_app_descriptor badabi_app = {
    .abi_version = 99,
    .name = "badabi",
    .call = badabi_call,
};

GATEWAY_EXPORT_APP(badabi_app)
