// The Swift hello app: "Hello, World!" (text/plain, 13 bytes) to every
// request. It is also the benchmark of the Swift SDK against nginx, so it
// answers through the fast path: the whole response is prepared once per
// worker as C memory, and each request costs one start_response and one
// write_last, with no allocation.
import Gateway

struct Hello: Application {
    let hello = StaticResponse(status: .ok, headers: ["Content-Type": "text/plain"],
                               body: "Hello, World!")

    init(arguments: Arguments) {}

    func respond(to request: Request, with response: ResponseWriter) throws {
        try response.respond(hello)
    }
}

@_cdecl("gateway_app") public func gatewayApp() -> UnsafeRawPointer { Gateway.export(Hello.self, name: "hello") }
