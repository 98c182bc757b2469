/// A route's path pattern, split into segments: literals, `:name`
/// parameters, and a trailing `*` that takes the rest of the path.
/// Empty segments are ignored, in patterns and in paths alike, so
/// "/todos/" and "//todos" match the pattern "/todos".
struct RoutePattern: Equatable {
    enum Segment: Equatable {
        case literal([UInt8])
        case parameter(String)
        case wildcard
    }

    let segments: [Segment]

    init(_ pattern: String) {
        var segments: [Segment] = []
        for part in pattern.split(separator: "/", omittingEmptySubsequences: true) {
            precondition(segments.last != .wildcard, "route \(pattern): \"*\" must be the last segment")
            if part == "*" {
                segments.append(.wildcard)
            } else if part.hasPrefix(":") {
                precondition(part.count > 1, "route \(pattern): a parameter needs a name")
                segments.append(.parameter(String(part.dropFirst())))
            } else {
                segments.append(.literal(Array(part.utf8)))
            }
        }
        let names = segments.compactMap { if case .parameter(let name) = $0 { return name } else { return nil } }
        precondition(names.count <= Parameters.capacity,
                     "route \(pattern): at most \(Parameters.capacity) parameters")
        precondition(Set(names).count == names.count, "route \(pattern): a parameter name is repeated")
        self.segments = segments
    }

    init(segments: [Segment]) { self.segments = segments }

    /// The parameter names, in order.
    var parameterNames: [String] {
        segments.compactMap { if case .parameter(let name) = $0 { return name } else { return nil } }
    }

    static func + (prefix: RoutePattern, rest: RoutePattern) -> RoutePattern {
        RoutePattern(segments: prefix.segments + rest.segments)
    }
}

extension RoutePattern {
    var isLiteral: Bool {
        segments.allSatisfy { if case .literal = $0 { return true } else { return false } }
    }
}
