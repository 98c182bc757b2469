import Synchronization

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
    /// The header's environ key (HTTP_X_REQUEST_ID), made once.
    private let environKey: String

    public init(header: String = "X-Request-Id", trustIncoming: Bool = true) {
        self.header = header
        self.trustIncoming = trustIncoming
        self.environKey = Request.environKey(ofHeader: header)
    }

    public func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws {
        let id: String
        if trustIncoming, let incoming = environKey.withCString({ request.cString($0) }).map({ String(cString: $0) }),
           RequestID.isWellFormed(incoming) {
            id = incoming
        } else {
            id = generator.next()
        }
        var tagged = request
        tagged[environKey] = id
        try next.respond(to: tagged, with: ResponseWriter(filter: OneHeaderFilter(next: response, name: header, value: id)))
    }

    /// Adds one header to the head, in C strings on the stack (no
    /// `Headers` array, no closure).
    final class OneHeaderFilter: ResponseFilter {
        let name: String
        let value: String

        init(next: ResponseWriter, name: String, value: String) {
            self.name = name
            self.value = value
            super.init(next: next)
        }

        override func start(status: UnsafePointer<CChar>, headers: UnsafeBufferPointer<gateway_pair>,
                            replacing: Bool) throws {
            try withUnsafeTemporaryAllocation(of: gateway_pair.self, capacity: headers.count + 1) { pairs in
                if let base = headers.baseAddress, headers.count > 0 {
                    pairs.baseAddress!.initialize(from: base, count: headers.count)
                }
                try name.withCString { name in
                    try value.withCString { value in
                        (pairs.baseAddress! + headers.count).initialize(to: gateway_pair(name: name, value: value))
                        try next.start(status: status, headers: UnsafeBufferPointer(pairs), replacing: replacing)
                    }
                }
            }
        }
    }

    /// 1 to 200 visible ASCII characters: nothing that could split a header.
    static func isWellFormed(_ id: String) -> Bool {
        let bytes = id.utf8
        return !bytes.isEmpty && bytes.count <= 200 && bytes.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    /// Per-worker state: the prefix is drawn on first use, after the fork.
    /// Atomics: with threads > 1 several requests draw ids at once.
    final class Generator: Sendable {
        private let prefix = Atomic<UInt64>(0)   // 0: not drawn yet
        private let counter = Atomic<UInt64>(0)

        func next() -> String {
            var prefix = self.prefix.load(ordering: .relaxed)
            if prefix == 0 {
                let fresh = UInt64.random(in: 1 ... .max) | (1 << 63)
                let (exchanged, original) = self.prefix.compareExchange(expected: 0, desired: fresh, ordering: .relaxed)
                prefix = exchanged ? fresh : original
            }
            let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
            // "prefix-counter" in hex, written once: one allocation, as before.
            return String(unsafeUninitializedCapacity: 33) { out in
                var at = 0
                func hex(_ value: UInt64) {
                    var digits = 1
                    while digits < 16 && value >> (4 * UInt64(digits)) != 0 { digits += 1 }
                    for d in stride(from: digits - 1, through: 0, by: -1) {
                        let nibble = UInt8((value >> (4 * UInt64(d))) & 0xF)
                        out[at] = nibble < 10 ? 0x30 + nibble : 0x61 + nibble - 10
                        at += 1
                    }
                }
                hex(prefix)
                out[at] = UInt8(ascii: "-")
                at += 1
                hex(n)
                return at
            }
        }
    }
}
