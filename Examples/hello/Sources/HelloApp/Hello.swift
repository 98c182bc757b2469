// The Swift hello app: "Hello, World!" (text/plain, 13 bytes) to every
// request. It is also the benchmark of the Swift SDK against nginx, so it
// answers through the fast path: the whole response is prepared once per
// worker as C memory, and each request costs one start_response and one
// write_last, with no allocation. It goes through the SDK's router (one
// route, every method and path), so the benchmark counts the router too:
// a router whose only route is `any("/*")` reads neither PATH_INFO nor
// REQUEST_METHOD, and the server never builds the environ.
import Gateway

struct Hello: Application {
    let router = Router()

    init(arguments: Arguments) {
        let hello = StaticResponse(status: .ok, headers: ["Content-Type": "text/plain"], body: "Hello, World!")
        router.any("/*") { _, response in try response.respond(hello) }
    }

    func respond(to request: Request, with response: ResponseWriter) throws {
        try router.respond(to: request, with: response)
    }
}

@_cdecl("gateway_app") public func gatewayApp() -> UnsafeRawPointer { Gateway.export(Hello.self, name: "hello") }
