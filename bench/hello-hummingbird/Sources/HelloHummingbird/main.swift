// HelloHummingbird PORT [THREADS]: Hummingbird 2 on 127.0.0.1:PORT with an
// event loop group of THREADS threads (default 2: one per core, as the other
// servers get two workers).
//   GET  /            "Hello, World!" (text/plain, 13 bytes)
//   GET  /bytes?n=N   N bytes (default 65536)
//   POST /echo        the request body, sent back with its length
import Hummingbird
import Logging
import NIOCore
import NIOPosix

let args = CommandLine.arguments
guard args.count >= 2, let port = Int(args[1]) else {
    print("usage: HelloHummingbird PORT [THREADS]")
    exit(2)
}
let threads = args.count >= 3 ? Int(args[2]) ?? 2 : 2

let router = Router()
router.get("/") { _, _ in
    Response(status: .ok, headers: [.contentType: "text/plain"],
             body: .init(byteBuffer: ByteBuffer(string: "Hello, World!")))
}
let pattern = ByteBuffer(repeating: UInt8(ascii: "x"), count: 1 << 20)
router.get("/bytes") { request, _ in
    let n = min(request.uri.queryParameters.get("n", as: Int.self) ?? 65536, 1 << 20)
    return Response(status: .ok, headers: [.contentType: "application/octet-stream"],
                    body: .init(byteBuffer: pattern.getSlice(at: 0, length: n)!))
}
router.post("/echo") { request, _ in
    let body = try await request.body.collect(upTo: 16 << 20)
    return Response(status: .ok, headers: [.contentType: "application/octet-stream"],
                    body: .init(byteBuffer: body))
}

var logger = Logger(label: "hello-hummingbird")
logger.logLevel = .warning
let app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: port)),
    eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup(numberOfThreads: threads)),
    logger: logger
)
try await app.runService()
