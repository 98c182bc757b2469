import Gateway
import GatewayJSON
import GatewayLogging

/// A JSON todo API on the Swift SDK's router:
///
///     GET    /todos            the list
///     POST   /todos            {"title": "milk"} → 201 and the todo, with Location
///     GET    /todos/:id        one todo, 404 when there is none
///     PUT    /todos/:id        {"title": ..., "done": ...}, every field
///     PATCH  /todos/:id        any of the fields
///     DELETE /todos/:id        204
///     GET    /todos/stream     the list as JSON lines, one write per todo (chunked)
///
/// app_args: `max_body` (bytes, default 1 MB: a larger body is a 413),
/// `seed` (todos made at boot, default 0), `title_max` (characters, default
/// 200: a longer title is a 422), `log_level` (the request loggers' level,
/// default info: set it to the server's log_level, and lines the server
/// would drop are not built). A `max_body` that is not a number fails
/// the boot.
struct TodoApp: Application {
    let maxBody: Int
    let titleMax: Int
    let store = TodoStore()
    let router = Router()

    init(arguments: Arguments) throws {
        maxBody = try arguments.value("max_body", as: Int.self) ?? 1 << 20
        titleMax = try arguments.value("title_max", as: Int.self) ?? 200
        guard maxBody > 0 else { throw GatewayError.invalidArgument(name: "max_body", value: "\(maxBody)") }
        if let name = arguments["log_level"] {
            guard let level = GatewayLogHandler.level(named: name) else {
                throw GatewayError.invalidArgument(name: "log_level", value: name)
            }
            GatewayLogHandler.defaultLogLevel = level
        }
        for index in 0..<(try arguments.value("seed", as: Int.self) ?? 0) {
            _ = store.create(title: "todo \(index + 1)")
        }
        addRoutes()
        Gateway.log("todo: worker \(arguments.workerID) booted with \(store.todos.count) todos, max_body \(maxBody)")
    }

    /// The app as exported: request IDs and one log line per request around it.
    static func make(arguments: Arguments) throws -> some Responder {
        try TodoApp(arguments: arguments).with(RequestID(), LogRequests())
    }

    func respond(to request: Request, with response: ResponseWriter) throws {
        try router.respond(to: request, with: response)
    }

    private func addRoutes() {
        let store = self.store
        let maxBody = self.maxBody
        let check = { (title: String) throws -> String in try self.checked(title) }

        router.get("/todos") { _, response in
            try response.respond(json: store.all())
        }
        router.post("/todos") { request, response in
            let input = try request.decode(TodoInput.self, limit: maxBody)
            guard let title = input.title else { throw JSONProblem(.badRequest, detail: "title: the key is missing") }
            let todo = store.create(title: try check(title), done: input.done ?? false)
            request.logger.info("created", metadata: ["todo": "\(todo.id)"])
            try response.respond(json: todo, status: .created, headers: ["Location": "\(request.scriptName)/todos/\(todo.id)"])
        }
        router.get("/todos/stream") { _, response in
            try response.start(status: .ok, headers: ["Content-Type": "application/x-ndjson"])
            for todo in store.all() { try response.write(jsonLine: todo) }
        }
        router.get("/todos/:id") { request, response in
            try response.respond(json: try TodoApp.find(request, in: store))
        }
        router.put("/todos/:id") { request, response in
            var todo = try TodoApp.find(request, in: store)
            let input = try request.decode(TodoInput.self, limit: maxBody)
            guard let title = input.title, let done = input.done else {
                throw JSONProblem(.badRequest, detail: "PUT needs every field: title and done")
            }
            todo.title = try check(title)
            todo.done = done
            store[todo.id] = todo
            try response.respond(json: todo)
        }
        router.patch("/todos/:id") { request, response in
            var todo = try TodoApp.find(request, in: store)
            let input = try request.decode(TodoInput.self, limit: maxBody)
            if let title = input.title { todo.title = try check(title) }
            if let done = input.done { todo.done = done }
            store[todo.id] = todo
            try response.respond(json: todo)
        }
        router.delete("/todos/:id") { request, response in
            let todo = try TodoApp.find(request, in: store)
            _ = store.remove(todo.id)
            try response.respond(status: .noContent, body: "")
        }
    }

    static func find(_ request: Request, in store: TodoStore) throws -> Todo {
        let id = try request.parameters.require("id", as: Int.self)
        guard let todo = store[id] else { throw JSONProblem(.notFound, detail: "no todo \(id)") }
        return todo
    }

    func checked(_ title: String) throws -> String {
        guard !title.isEmpty, title.count <= titleMax else {
            throw JSONProblem(422, detail: "title: 1 to \(titleMax) characters")
        }
        return title
    }
}

@_cdecl("gateway_app") public func gatewayApp() -> UnsafeRawPointer {
    Gateway.export(name: "todo") { try TodoApp.make(arguments: $0) }
}
