import Gateway
import GatewayJSON
import GatewayTesting
import Testing

@Suite struct GatewayJSONTests {
    struct Todo: Codable, Equatable {
        var id: Int?
        var title: String
        var done: Bool
    }

    func server() -> TestServer {
        let router = Router()
        router.post("/todos") { request, response in
            var todo = try request.decode(Todo.self, limit: 100)
            todo.id = 1
            try response.respond(json: todo, status: .created)
        }
        router.get("/stream") { _, response in
            try response.start(status: .ok, headers: ["Content-Type": "application/x-ndjson"])
            for id in 1...2 { try response.write(jsonLine: Todo(id: id, title: "t", done: false)) }
        }
        return TestServer(router.with())
    }

    @Test func decodesAndEncodes() throws {
        let response = server().execute("POST", "/todos", headers: ["Content-Type": "application/json; charset=utf-8"],
                                         body: #"{"title":"milk","#, #""done":false}"#)
        #expect(response.status == .created)
        #expect(response.headers["Content-Type"] == "application/json")
        #expect(response.text == #"{"done":false,"id":1,"title":"milk"}"# || response.text.contains(#""id":1"#))
    }

    @Test(arguments: [
        (#"{"done":false}"#, "title: the key is missing"),
        (#"{"title":1,"done":false}"#, "title: expected String"),
        (#"{"title":null,"done":false}"#, "title: expected String, found null"),
        ("not json", "the body is not valid JSON"),
    ])
    func decodingErrorsAreProblems(body: String, detail: String) throws {
        let response = server().execute("POST", "/todos", body: body)
        #expect(response.status == .badRequest)
        #expect(response.headers["Content-Type"] == "application/problem+json")
        #expect(response.text.contains(#""status":400"#))
        #expect(response.text.contains(#""detail":"\#(detail)""#), "\(response.text)")
    }

    @Test func wrongMediaTypeAndTooLarge() {
        let text = server().execute("POST", "/todos", headers: ["Content-Type": "text/plain"], body: "{}")
        #expect(text.status == .unsupportedMediaType)
        let large = server().execute("POST", "/todos", body: String(repeating: " ", count: 200))
        #expect(large.status == .payloadTooLarge)
    }

    @Test func streamsJSONLines() {
        let response = server().execute("GET", "/stream")
        #expect(response.framing == .chunked)
        #expect(response.text.split(separator: "\n").count == 2)
    }
}
