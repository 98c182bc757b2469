"""The WSGI app that granian and Gunicorn serve in `make bench`: the same
routes, by PATH_INFO, as gatewayd's hello and testapp apps use there.

    /        "Hello, World!" (text/plain, 13 bytes): the minimal callable
    /bytes   65536 bytes with Content-Length
    /echo    the request body, sent back with its Content-Length
"""

HELLO = b'Hello, World!'
HELLO_HEADERS = [('Content-Type', 'text/plain'), ('Content-Length', '13')]
BYTES = b'x' * 65536
BYTES_HEADERS = [('Content-Type', 'application/octet-stream'), ('Content-Length', '65536')]


def app(environ, start_response):
    path = environ.get('PATH_INFO', '/')
    if path == '/bytes':
        start_response('200 OK', BYTES_HEADERS)
        return [BYTES]
    if path == '/echo':
        length = int(environ.get('CONTENT_LENGTH') or 0)
        body = environ['wsgi.input'].read(length) if length else b''
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('Content-Length', str(len(body)))])
        return [body]
    start_response('200 OK', HELLO_HEADERS)
    return [HELLO]
