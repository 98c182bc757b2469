/*
 * gateway.h: the gatewayd gateway interface, version 1.
 *
 * A C ABI between the gatewayd server and an application, modelled on
 * Python's WSGI (PEP 3333). An application is a shared object that exports
 * one function, `gateway_app`, returning a descriptor: the ABI version it was
 * built for, its name and its entry points. The server calls `init` once per
 * worker process right after dlopen(), `call` once per request, and
 * `shutdown` before the worker exits. docs/gateway-interface.md is the full
 * specification; this header is its normative C form.
 *
 * Threading: a worker calls the app from `threads` app threads (the
 * `threads` key, 1 by default: one request at a time, and an app needs no
 * locking). With threads > 1 the server calls `call` from several threads
 * at once, and only for an app whose descriptor declares it may
 * (GATEWAY_APP_THREAD_SAFE); otherwise the worker refuses to boot. `init`
 * and `shutdown` are called from one thread, with no request in progress.
 * Every pointer the server hands to `call` is valid only until `call`
 * returns, and only on the thread that received it.
 *
 * Signals: the worker's handlers are installed without SA_RESTART, so a
 * blocking call in the app (read, recv, poll, sleep, connect, ...) may fail
 * with EINTR when the server signals the worker: to stop it (SIGTERM,
 * SIGQUIT, SIGINT: shutdown, reload, a request past `timeout`) or to reopen
 * its logs (SIGUSR1). Retry on EINTR. Apps install no signal handlers.
 */
#ifndef GATEWAY_H
#define GATEWAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. An app puts it in its descriptor;
 * the server refuses an app whose version differs from its own. */
#define GATEWAY_ABI_VERSION 1u

/* The name of the one symbol an app exports (see GATEWAY_EXPORT_APP). */
#define GATEWAY_APP_SYMBOL "gateway_app"

/* Levels for gateway_api.log, the errors stream (wsgi.errors). */
#define GATEWAY_LOG_DEBUG   0
#define GATEWAY_LOG_INFO    1
#define GATEWAY_LOG_WARNING 2
#define GATEWAY_LOG_ERROR   3

/* Flags for gateway_api.start_response. GATEWAY_REPLACE is PEP 3333's
 * exc_info: it allows a second call that replaces the status and headers
 * of the first, as long as no body byte has been sent yet. */
#define GATEWAY_REPLACE 1

/* Return values of the api functions and of gateway_app_descriptor.call. */
#define GATEWAY_OK     0
#define GATEWAY_ERROR (-1)

/* Why the last refused call on a request failed: api->last_error(r), for
 * the calls that return GATEWAY_ERROR (read returns -1). The value stays
 * until another call fails. */
#define GATEWAY_E_NONE           0 /* no call has failed on this request */
#define GATEWAY_E_CLIENT_GONE    1 /* the client closed the connection or stopped reading */
#define GATEWAY_E_BODY_TOO_LARGE 2 /* the request body is above max_body_size: the client gets 413 */
#define GATEWAY_E_BAD_BODY       3 /* the request body is malformed (chunked framing): the client gets 400 */
#define GATEWAY_E_BODY_TIMEOUT   4 /* the body did not arrive within body_timeout: the client gets 408 */
#define GATEWAY_E_NOT_NOW        5 /* not allowed at this point: write before start_response or after
                                      write_last, start_response twice without GATEWAY_REPLACE or
                                      after the head was sent, a response after a refused body */
#define GATEWAY_E_BAD_RESPONSE   6 /* start_response refused the status or a header */
#define GATEWAY_E_LENGTH         7 /* more body bytes than the Content-Length the app declared */
#define GATEWAY_E_FILE           8 /* sendfile: the file is shorter than the count, or unreadable */
#define GATEWAY_E_TIMEOUT        9 /* the server timed the request out: the client gets 504 */
#define GATEWAY_E_ARGUMENT      10 /* a NULL pointer or an impossible argument (read into NULL) */

/* Whether the server's function table has `member` (entries appended
 * within ABI v1 after its first release, such as last_error). */
#define GATEWAY_API_HAS(api, member) \
    ((api)->size >= offsetof(gateway_api, member) + sizeof((api)->member))

/* A name/value pair of NUL-terminated strings: a response header, an
 * app_args entry. */
typedef struct gateway_pair {
    const char *name;
    const char *value;
} gateway_pair;

typedef struct gateway_request gateway_request;

/* The functions the server offers the app. All of them take the request
 * they act on; none may be called after `call` returned. */
typedef struct gateway_api {
    uint32_t abi_version;   /* GATEWAY_ABI_VERSION of the server */
    uint32_t size;          /* sizeof(gateway_api) of the server */

    /* --- environ: CGI/1.1 meta-variables (RFC 3875) and gateway.* keys --- */

    /* The value of one environ key, or NULL when the key is absent.
     * Example: r->api->getenv(r, "PATH_INFO"). */
    const char *(*getenv)(gateway_request *r, const char *key);
    /* The number of environ entries, and entry `index` (0-based) as a
     * key and a value; returns GATEWAY_ERROR when index is out of range. */
    size_t (*environ_count)(gateway_request *r);
    int (*environ_item)(gateway_request *r, size_t index,
                        const char **key, const char **value);

    /* --- input stream: the request body, de-chunked (wsgi.input) --- */

    /* Reads up to `len` bytes of the body into `buf`. Returns the number of
     * bytes read (at least 1), 0 at the end of the body, GATEWAY_ERROR when
     * the client went away, timed out or sent a malformed body. Blocks
     * until some data is there. Never reads past the body. */
    ssize_t (*read)(gateway_request *r, void *buf, size_t len);

    /* --- errors stream: the server's error log (wsgi.errors) --- */

    /* Writes one message (a NUL-terminated string, without trailing
     * newline) to the error log at `level`. `r` may be the request being
     * served or NULL (during init and shutdown). One call is one event:
     * CR, other bytes below 0x20, DEL, '\' and bytes from 0x80 up are
     * written as \xHH (nginx's escaping); a newline starts a continuation
     * line of the event (its prefix, then "| "), so a traceback stays
     * readable and no message passes for another event.
     * Messages below log_level are dropped; a level other than the four
     * GATEWAY_LOG_* is logged as GATEWAY_LOG_ERROR. */
    void (*log)(gateway_request *r, int level, const char *message);

    /* --- response --- */

    /* Sets the status ("200 OK": three digits, a space, a reason phrase)
     * and the response headers. Headers are not sent yet: they go out with
     * the first body byte or when `call` returns. A second call needs
     * GATEWAY_REPLACE and succeeds only while no body byte was sent.
     * Hop-by-hop headers (Connection, Keep-Alive, Transfer-Encoding, TE,
     * Trailer, Upgrade, Proxy-Connection) are refused: the call returns
     * GATEWAY_ERROR and the client gets a 500. Framing is the server's job:
     * it honours a Content-Length header the app sets, and otherwise uses
     * chunked encoding (HTTP/1.1) or closes the connection (HTTP/1.0).
     * 204 and 304 responses have no body: the server adds no framing
     * header and drops body bytes the app writes; a 204 must carry no
     * Content-Length (a 304 may carry the one of the 200). */
    int (*start_response)(gateway_request *r, const char *status,
                          const gateway_pair *headers, size_t count, int flags);

    /* Sends `len` body bytes (a body chunk). The first call sends the
     * headers too. The bytes are handed to the kernel before write returns
     * (PEP 3333: no delaying of blocks). Returns GATEWAY_ERROR when
     * start_response was not called, when the client went away, or when
     * the bytes would exceed the Content-Length the app declared. */
    int (*write)(gateway_request *r, const void *data, size_t len);

    /* Sends `count` bytes of the open file `fd` from `offset` as body,
     * with sendfile(2) (zero-copy). The server does not close `fd`.
     * Returns as write does; GATEWAY_ERROR also when the file is shorter. */
    int (*sendfile)(gateway_request *r, int fd, off_t offset, size_t count);

    /* Sends `len` bytes as the whole remaining body and finishes the
     * response. When no body byte was sent yet and the app set no
     * Content-Length, the server sets Content-Length itself, so a response
     * built in memory needs no chunked framing. Further writes fail. */
    int (*write_last)(gateway_request *r, const void *data, size_t len);

    /* --- appended within ABI v1: check GATEWAY_API_HAS(api, last_error) --- */

    /* Why the last failed call on `r` failed: a GATEWAY_E_* value. */
    int (*last_error)(gateway_request *r);
} gateway_api;

/* One request. The server owns it; the app reads `api` and `app_data`. */
struct gateway_request {
    const gateway_api *api;   /* the server's functions */
    void *app_data;           /* what init stored in gateway_init.app_data */
    void *server;             /* reserved for the server: do not touch */
};

/* What init receives: the config's app_args, who it runs as, and two
 * out-fields (app_data, error). */
typedef struct gateway_init {
    uint32_t abi_version;        /* GATEWAY_ABI_VERSION of the server */
    uint32_t threads;            /* within ABI v1 (was reserved, 0): how many threads call `call`
                                  * at once in this worker (the `threads` key); 0 from an older server: 1 */
    const gateway_api *api;      /* api->log(NULL, ...) works during init */
    const gateway_pair *args;    /* app_args from the config: a table sorted by name (byte order),
                                  * an array in order (names "0", "1", ...); valid during init only */
    size_t arg_count;
    int worker_id;               /* the worker's slot: 0 .. workers-1 */
    uint32_t generation;         /* the worker generation (bumps on reload) */
    void *app_data;              /* out: handed to every request and to shutdown */
    char *error;                 /* out: on failure, a NUL-terminated message... */
    size_t error_size;           /* ...of at most error_size bytes with the NUL */
} gateway_init;

/* Descriptor flags (appended within ABI v1; an app built before them
 * sets 0, the old `reserved` field).
 * GATEWAY_APP_THREAD_SAFE: `call` may run on several threads at once
 *   (threads > 1); without it a worker with threads > 1 refuses to boot.
 * GATEWAY_APP_STREAM_BODY: the app reads request bodies as they arrive
 *   (upload progress, a proxy): it is called once the head is in, and its
 *   reads wait for the client, holding an app thread. Without it a body is
 *   received whole by the event loop first (in memory up to
 *   body_buffer_size, then in an unlinked file under body_temp_path) and
 *   read from there. */
#define GATEWAY_APP_THREAD_SAFE 0x1u
#define GATEWAY_APP_STREAM_BODY 0x2u

/* The descriptor an app returns from gateway_app(). */
typedef struct gateway_app_descriptor {
    uint32_t abi_version;        /* must be GATEWAY_ABI_VERSION */
    uint32_t flags;              /* within ABI v1 (was reserved, 0): GATEWAY_APP_* below */
    const char *name;            /* a short name for logs */
    /* Once per worker, right after dlopen. 0: booted; anything else: the
     * worker failed to boot and the server logs init->error. May be NULL. */
    int (*init)(gateway_init *init);
    /* Once per request. GATEWAY_OK, or GATEWAY_ERROR for an app error:
     * the client gets a 500 when no body byte was sent, else the
     * connection is aborted. Required. */
    int (*call)(gateway_request *r);
    /* Once before the worker exits. May be NULL. */
    void (*shutdown)(void *app_data);
} gateway_app_descriptor;

/* The signature of the exported symbol. */
typedef const gateway_app_descriptor *(*gateway_app_fn)(void);

/* The exported symbol itself, declared here so that C++ apps export it
 * unmangled and C apps get a prototype. */
const gateway_app_descriptor *gateway_app(void);

/* In a C app: GATEWAY_EXPORT_APP(my_descriptor); exports gateway_app. */
#define GATEWAY_EXPORT_APP(descriptor) \
    __attribute__((visibility("default"))) \
    const gateway_app_descriptor *gateway_app(void) { return &(descriptor); }

#ifdef __cplusplus
}
#endif

#endif /* GATEWAY_H */
