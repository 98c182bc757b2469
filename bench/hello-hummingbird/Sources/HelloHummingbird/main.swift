// HelloHummingbird PORT [THREADS]: Hummingbird 2 on 127.0.0.1:PORT with an
// event loop group of THREADS threads (default 2: one per core, as the other
// servers get two workers).
//   GET  /            "Hello, World!" (text/plain, 13 bytes)
//   GET  /bytes?n=N   N bytes (default 65536)
//   POST /echo        the request body, sent back with its length
//   GET  /todos       the JSON list of todos (10 seeded), as Examples/todo
//   POST /todos       {"title": ..., "done": ...} decoded, stored, answered 201 as JSON
import Hummingbird
import Logging
import NIOConcurrencyHelpers
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

// The same JSON API as Examples/todo (list and create), with Hummingbird's
// router and Codable: one store for the process, behind a lock (the event
// loops share it; gatewayd's workers each have their own).
struct Todo: ResponseCodable { var id: Int; var title: String; var done: Bool }
struct TodoInput: Decodable { var title: String?; var done: Bool? }
struct TodoStore { var todos: [Int: Todo] = [:]; var nextID = 1 }
let store = NIOLockedValueBox(TodoStore())
store.withLockedValue { s in
    for i in 0..<10 { s.todos[s.nextID] = Todo(id: s.nextID, title: "todo \(i + 1)", done: false); s.nextID += 1 }
}
router.get("/todos") { _, _ -> [Todo] in
    store.withLockedValue { $0.todos.values.sorted { $0.id < $1.id } }
}
router.post("/todos") { request, context -> EditedResponse<Todo> in
    let input = try await request.decode(as: TodoInput.self, context: context)
    guard let title = input.title else { throw HTTPError(.badRequest, message: "title: the key is missing") }
    let todo = store.withLockedValue { s -> Todo in
        let t = Todo(id: s.nextID, title: title, done: input.done ?? false)
        s.todos[t.id] = t
        s.nextID += 1
        return t
    }
    return EditedResponse(status: .created, headers: [.location: "/todos/\(todo.id)"], response: todo)
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
