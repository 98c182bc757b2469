/*
 * hello-c: the smallest gatewayd app. Every request gets "Hello, World!".
 *
 * It is the app the benchmarks run against nginx, so `call` does the least
 * the interface allows: the status and headers are constants, and the body
 * goes out with one write_last (headers and body in one send).
 *
 *     cc -O2 -fPIC -shared -I Sources/CGateway/include -o hello-c.so hello.c
 */
#include <gateway.h>

static const char body[] = "Hello, World!";

static const gateway_pair headers[] = {
    { "Content-Type", "text/plain" },
    { "Content-Length", "13" },
};

_Static_assert(sizeof(body) - 1 == 13, "Content-Length must match the body");

static int hello_call(gateway_request *r)
{
    const gateway_api *api = r->api;
    if (api->start_response(r, "200 OK", headers,
                            sizeof(headers) / sizeof(headers[0]), 0) != GATEWAY_OK)
        return GATEWAY_ERROR;
    return api->write_last(r, body, sizeof(body) - 1);
}

static const gateway_app_descriptor hello_app = {
    .abi_version = GATEWAY_ABI_VERSION,
    .flags = GATEWAY_APP_THREAD_SAFE,   /* no state shared between calls but constants */
    .name = "hello-c",
    .init = NULL,
    .call = hello_call,
    .shutdown = NULL,
};

GATEWAY_EXPORT_APP(hello_app)
