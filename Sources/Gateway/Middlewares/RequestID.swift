/// Gives every request an id: the client's (or the proxy's) `X-Request-Id`
/// when it is sane and `trustIncoming` is set, else a fresh one. The app
/// reads it as `request.header("X-Request-Id")`; the response carries it
/// back in the same header.
///
/// Fresh ids are a random per-worker prefix and a counter
/// ("3f9c0a1d5e7b2c48-1a"): unique without a syscall per request.
public struct RequestID: Middleware {
    /// The header the id travels in.
    public let header: String
    /// Whether a well-formed incoming id is kept.
    public let trustIncoming: Bool
    private let generator = Generator()

    public init(header: String = "X-Request-Id", trustIncoming: Bool = true) {
        self.header = header
        self.trustIncoming = trustIncoming
    }

    public func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws {
        let id: String
        if trustIncoming, let incoming = request.header(header), RequestID.isWellFormed(incoming) {
            id = incoming
        } else {
            id = generator.next()
        }
        var tagged = request
        tagged[request.withHeaderKey(header) { String(cString: $0) }] = id
        let header = self.header
        try next.respond(to: tagged, with: response.addingHeaders { [(header, id)] })
    }

    /// 1 to 200 visible ASCII characters: nothing that could split a header.
    static func isWellFormed(_ id: String) -> Bool {
        let bytes = id.utf8
        return !bytes.isEmpty && bytes.count <= 200 && bytes.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    /// Per-worker state: the prefix is drawn on first use, after the fork.
    final class Generator: @unchecked Sendable {
        private var prefix: String?
        private var counter: UInt64 = 0

        func next() -> String {
            let prefix = self.prefix ?? {
                let fresh = String(UInt64.random(in: 1 ... .max) | (1 << 63), radix: 16)
                self.prefix = fresh
                return fresh
            }()
            counter &+= 1
            return prefix + "-" + String(counter, radix: 16)
        }
    }
}
