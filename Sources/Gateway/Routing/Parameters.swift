#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The values a route's pattern captured from PATH_INFO: `:name` segments
/// and the trailing `*`. Held as byte ranges into the path the router
/// matched (no allocation while matching); the strings are made when read.
/// Valid, like the request, until `respond(to:with:)` returns.
///
///     router.get("/todos/:id") { request, response in
///         let id = try request.parameters.require("id", as: Int.self)  // 400 when not an Int
///         ...
///     }
public struct Parameters {
    /// A route captures at most this many `:name` segments.
    public static let capacity = 7

    // Plain values only, so that copying a request copies bytes (no
    // retain): the names are the endpoint's, which the router keeps alive.
    @usableFromInline var base: UnsafePointer<UInt8>?
    @usableFromInline unowned(unsafe) var endpoint: Router.Endpoint?
    // Lanes 2i and 2i+1: start and end of parameter i; lanes 14 and 15:
    // the wildcard's (start > end: no wildcard).
    @usableFromInline var ranges = SIMD16<Int32>(repeating: 0)
    @usableFromInline var count = 0
    /// Set by a router that matched without reading the path (`any("/*")`
    /// alone): the wildcard is the whole path, found when read.
    @usableFromInline var wildcardIsWholePath = false

    @inlinable
    public init() { ranges[14] = 1 }

    @inline(__always)
    mutating func push(_ start: Int, _ end: Int) {
        ranges[2 &* count] = Int32(truncatingIfNeeded: start)
        ranges[2 &* count &+ 1] = Int32(truncatingIfNeeded: end)
        count &+= 1
    }

    @inline(__always)
    mutating func pop() { count &-= 1 }

    /// This with the wildcard taken from `path`, when it is the whole path.
    func resolved(path: UnsafePointer<CChar>?) -> Parameters {
        guard wildcardIsWholePath else { return self }
        var resolved = self
        resolved.wildcardIsWholePath = false
        guard let path else { resolved.setWildcard(0, 0); return resolved }
        let bytes = UnsafeRawPointer(path).assumingMemoryBound(to: UInt8.self)
        var start = 0
        while bytes[start] == UInt8(ascii: "/") { start += 1 }
        resolved.base = bytes
        resolved.setWildcard(start, start + strlen(path + start))
        return resolved
    }

    @inline(__always)
    mutating func setWildcard(_ start: Int, _ end: Int) {
        ranges[14] = Int32(truncatingIfNeeded: start)
        ranges[15] = Int32(truncatingIfNeeded: end)
    }

    func text(_ start: Int32, _ end: Int32) -> String {
        guard let base else { return "" }
        return String(decoding: UnsafeBufferPointer(start: base + Int(start), count: Int(end - start)), as: UTF8.self)
    }

    var names: ArraySlice<String> { (endpoint?.names ?? []).prefix(count) }

    /// The names the matched route declared, in pattern order.
    public var declaredNames: [String] { Array(names) }

    /// The value of parameter `name`, nil when the route has none of that name.
    public subscript(name: String) -> String? {
        guard let index = names.firstIndex(of: name) else { return nil }
        return text(ranges[2 * index], ranges[2 * index + 1])
    }

    /// What the trailing `*` matched, without its leading "/" ("" when the
    /// path ends at the wildcard), nil when the route has no wildcard.
    public var wildcard: String? {
        ranges[14] > ranges[15] ? nil : text(ranges[14], ranges[15])
    }

    /// Parameter `name`; a route without it is the app's bug: 500.
    public func require(_ name: String) throws -> String {
        guard let value = self[name] else {
            throw HTTPError(.internalServerError, "the route has no parameter \"\(name)\"")
        }
        return value
    }

    /// Parameter `name` parsed as `type`; a value that does not parse is
    /// the client's: 400 Bad Request. Inlinable, so it is specialised for
    /// `T` in the app (no generic metadata lookups per call).
    @inlinable
    public func require<T: LosslessStringConvertible>(_ name: String, as type: T.Type) throws -> T {
        let text = try require(name)
        guard let value = T(text) else {
            throw HTTPError(.badRequest, "parameter \(name) is not a valid \(T.self): \"\(text)\"")
        }
        return value
    }

    /// Parameter `name` parsed as `type`, nil when absent or not parsing.
    @inlinable
    public func get<T: LosslessStringConvertible>(_ name: String, as type: T.Type) -> T? {
        self[name].flatMap(T.init)
    }
}
