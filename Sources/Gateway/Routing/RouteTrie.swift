#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The router's lookup structure: a trie of path segments in flat arrays of
/// plain values (no references), so that matching a path walks indices and
/// compares bytes without allocating or retaining. Built as routes are
/// added; read-only once requests come.
struct RouteTrie {
    struct Node {
        var literalStart: Int32 = 0  // the segment's bytes in `bytes`
        var literalCount: Int32 = 0
        var firstChild: Int32 = -1   // literal children, a linked list
        var nextSibling: Int32 = -1
        var parameterChild: Int32 = -1
        var wildcardChild: Int32 = -1
        var firstRoute: Int32 = -1   // routes ending here, a linked list
    }

    /// One method's route at a node.
    struct Route {
        var method: Int32            // index into `methods`, or `anyMethod`
        var endpoint: Int32
        var next: Int32 = -1
    }

    static let anyMethod: Int32 = -1

    private(set) var nodes = [Node()]
    /// The endpoint when the only route is `*` for any method (an app that
    /// answers everything itself): then the router reads neither PATH_INFO
    /// nor REQUEST_METHOD. gatewayd builds the environ on the first key an
    /// app reads, so not reading one saves that build. -1 otherwise.
    private(set) var catchAll: Int32 = -1
    private(set) var routes: [Route] = []
    private(set) var bytes: [UInt8] = []
    /// Method names, interned: GET first, so the usual lookup ends early.
    private(set) var methods: [[UInt8]] = [Array("GET".utf8), Array("HEAD".utf8)]

    // MARK: Building

    /// Adds `pattern` for `method` (nil: any method) → `endpoint`. A second
    /// route for the same method and pattern replaces the first.
    mutating func insert(_ pattern: RoutePattern, method: String?, endpoint: Int) {
        var node: Int32 = 0
        for segment in pattern.segments {
            switch segment {
            case .literal(let literal): node = literalChild(of: node, literal)
            case .parameter: node = child(of: node, \.parameterChild)
            case .wildcard: node = child(of: node, \.wildcardChild)
            }
        }
        let code = method.map { intern($0) } ?? RouteTrie.anyMethod
        var index = nodes[Int(node)].firstRoute
        while index >= 0 {
            if routes[Int(index)].method == code { routes[Int(index)].endpoint = Int32(endpoint); return }
            index = routes[Int(index)].next
        }
        routes.append(Route(method: code, endpoint: Int32(endpoint), next: nodes[Int(node)].firstRoute))
        nodes[Int(node)].firstRoute = Int32(routes.count - 1)
        catchAll = findCatchAll()
    }

    private func findCatchAll() -> Int32 {
        let root = nodes[0]
        guard root.firstChild < 0, root.parameterChild < 0, root.firstRoute < 0, root.wildcardChild >= 0 else { return -1 }
        let only = nodes[Int(root.wildcardChild)].firstRoute
        guard only >= 0, routes[Int(only)].next < 0, routes[Int(only)].method == RouteTrie.anyMethod else { return -1 }
        return routes[Int(only)].endpoint
    }

    private mutating func intern(_ method: String) -> Int32 {
        let name = Array(method.utf8)
        if let index = methods.firstIndex(of: name) { return Int32(index) }
        methods.append(name)
        return Int32(methods.count - 1)
    }

    private mutating func literalChild(of parent: Int32, _ literal: [UInt8]) -> Int32 {
        var child = nodes[Int(parent)].firstChild
        while child >= 0 {
            let node = nodes[Int(child)]
            if bytes[Int(node.literalStart) ..< Int(node.literalStart + node.literalCount)].elementsEqual(literal) {
                return child
            }
            child = node.nextSibling
        }
        var fresh = Node()
        fresh.literalStart = Int32(bytes.count)
        fresh.literalCount = Int32(literal.count)
        fresh.nextSibling = nodes[Int(parent)].firstChild
        bytes.append(contentsOf: literal)
        nodes.append(fresh)
        nodes[Int(parent)].firstChild = Int32(nodes.count - 1)
        return Int32(nodes.count - 1)
    }

    private mutating func child(of parent: Int32, _ slot: WritableKeyPath<Node, Int32>) -> Int32 {
        if nodes[Int(parent)][keyPath: slot] >= 0 { return nodes[Int(parent)][keyPath: slot] }
        nodes.append(Node())
        nodes[Int(parent)][keyPath: slot] = Int32(nodes.count - 1)
        return Int32(nodes.count - 1)
    }

    // MARK: Matching

    /// The method's code, `anyMethod` when no route declares it.
    func methodCode(_ method: UnsafePointer<UInt8>) -> Int32 {
        let length = strlen(method)
        for (index, name) in methods.enumerated() where name.count == length {
            if name.withUnsafeBufferPointer({ memcmp($0.baseAddress!, method, length) == 0 }) {
                return Int32(index)
            }
        }
        return RouteTrie.anyMethod - 1  // matches only any-method routes
    }

    /// The node whose routes match `path`, or -1; fills `parameters`.
    func match(_ path: UnsafeBufferPointer<UInt8>, into parameters: inout Parameters) -> Int32 {
        nodes.withUnsafeBufferPointer { nodes in
            bytes.withUnsafeBufferPointer { bytes in
                Matcher(nodes: nodes, bytes: bytes, path: path).descend(0, from: 0, &parameters)
            }
        }
    }

    /// The endpoint of the route at `node` for `method`: its own, GET's for
    /// HEAD, else an any-method route; -1 when none (405).
    func endpoint(at node: Int32, method: Int32) -> Int32 {
        var any: Int32 = -1
        var get: Int32 = -1
        var index = nodes[Int(node)].firstRoute
        while index >= 0 {
            let route = routes[Int(index)]
            if route.method == method { return route.endpoint }
            if route.method == 0 { get = route.endpoint }
            if route.method == RouteTrie.anyMethod { any = route.endpoint }
            index = route.next
        }
        return method == 1 && get >= 0 ? get : any
    }

    /// The methods routes at `node` answer, for a 405's Allow.
    func allowedMethods(at node: Int32) -> [String] {
        var names: [String] = []
        var index = nodes[Int(node)].firstRoute
        while index >= 0 {
            let code = routes[Int(index)].method
            if code >= 0 { names.append(String(decoding: methods[Int(code)], as: UTF8.self)) }
            index = routes[Int(index)].next
        }
        if names.contains("GET") && !names.contains("HEAD") { names.append("HEAD") }
        return names.sorted()
    }

    /// The walk of one path: literal children first, then the parameter,
    /// then the wildcard, backtracking when a branch has no route.
    struct Matcher {
        let nodes: UnsafeBufferPointer<Node>
        let bytes: UnsafeBufferPointer<UInt8>
        let path: UnsafeBufferPointer<UInt8>

        func descend(_ index: Int32, from position: Int, _ parameters: inout Parameters) -> Int32 {
            let node = nodes[Int(index)]
            var start = position
            while start < path.count && path[start] == UInt8(ascii: "/") { start &+= 1 }
            if start == path.count {
                if node.firstRoute >= 0 { return index }
                if node.wildcardChild >= 0 {
                    parameters.setWildcard(path.count, path.count)
                    return node.wildcardChild
                }
                return -1
            }
            var end = start
            while end < path.count && path[end] != UInt8(ascii: "/") { end &+= 1 }
            var child = node.firstChild
            while child >= 0 {
                let literal = nodes[Int(child)]
                if Int(literal.literalCount) == end &- start
                    && memcmp(bytes.baseAddress! + Int(literal.literalStart), path.baseAddress! + start, end &- start) == 0 {
                    let found = descend(child, from: end, &parameters)
                    if found >= 0 { return found }
                }
                child = literal.nextSibling
            }
            if node.parameterChild >= 0 && parameters.count < Parameters.capacity {
                parameters.push(start, end)
                let found = descend(node.parameterChild, from: end, &parameters)
                if found >= 0 { return found }
                parameters.pop()
            }
            if node.wildcardChild >= 0 {
                parameters.setWildcard(start, path.count)
                return node.wildcardChild
            }
            return -1
        }
    }
}
