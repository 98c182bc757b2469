#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The environ of a request as a sequence of (key, value) pairs, in the
/// server's order; keys a middleware added come last, keys it removed are
/// skipped.
///
///     for (key, value) in request.environ { ... }
public struct Environ: Sequence {
    let request: Request

    public func makeIterator() -> Iterator { Iterator(request: request) }

    public var underestimatedCount: Int { serverCount }

    var serverCount: Int { request.api.pointee.environ_count.unsafelyUnwrapped(request.raw) }

    public struct Iterator: IteratorProtocol {
        let request: Request
        let count: Int
        var index = 0
        var addedIndex = 0

        init(request: Request) {
            self.request = request
            self.count = Environ(request: request).serverCount
        }

        public mutating func next() -> (key: String, value: String)? {
            let api = request.api
            while index < count {
                var key: UnsafePointer<CChar>?
                var value: UnsafePointer<CChar>?
                let rc = api.pointee.environ_item.unsafelyUnwrapped(request.raw, index, &key, &value)
                index += 1
                guard rc == GATEWAY_OK, let key, let value else { continue }
                let effective = request.overrides.map { $0.value(key, else: value) } ?? value
                guard let effective else { continue }
                return (String(cString: key), String(cString: effective))
            }
            guard let overrides = request.overrides else { return nil }
            while addedIndex < overrides.entries.count {
                let entry = overrides.entries[addedIndex]
                addedIndex += 1
                if let value = entry.value, request.serverValue(entry.cKey) == nil {
                    return (entry.key, String(cString: value))
                }
            }
            return nil
        }
    }
}

/// The environ edits of one request copy: keys set or removed by
/// middleware, owned as C strings so `cString(_:)` can hand them out.
@usableFromInline
final class EnvironOverrides {
    struct Entry {
        let key: String
        let cKey: UnsafeMutablePointer<CChar>
        var value: UnsafeMutablePointer<CChar>?  // nil: removed
    }

    private(set) var entries: [Entry] = []

    init() {}

    deinit {
        for entry in entries {
            free(entry.cKey)
            free(entry.value)
        }
    }

    func copy() -> EnvironOverrides {
        let copy = EnvironOverrides()
        copy.entries = entries.map { Entry(key: $0.key, cKey: strdup($0.cKey), value: $0.value.map { strdup($0) }) }
        return copy
    }

    /// The edited value of `key` if it was edited (nil when removed), else `original`.
    @usableFromInline
    func value(_ key: UnsafePointer<CChar>, else original: @autoclosure () -> UnsafePointer<CChar>?) -> UnsafePointer<CChar>? {
        guard let entry = entries.first(where: { strcmp($0.cKey, key) == 0 }) else { return original() }
        return entry.value.map { UnsafePointer($0) }
    }

    func set(_ key: String, _ value: String?) {
        let cValue = value.map { strdup($0)! }
        if let index = entries.firstIndex(where: { $0.key == key }) {
            free(entries[index].value)
            entries[index].value = cValue
        } else {
            entries.append(Entry(key: key, cKey: strdup(key), value: cValue))
        }
    }
}
