"""app = "factory_app:create_app()": a factory called once per worker."""
CALLS = []


def create_app():
    CALLS.append(1)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"factory calls: %d" % len(CALLS)]

    return app


class Holder:
    class Inner:
        @staticmethod
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"dotted"]
