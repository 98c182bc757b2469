#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A `RouteTrie` frozen into raw memory, with the endpoints unretained:
/// matching a request reads plain values through pointers, so it neither
/// allocates nor retains nor pays exclusivity checks. Made again after each
/// route is added (at init); the router frees it.
struct RouteTable {
    typealias Node = RouteTrie.Node
    typealias Route = RouteTrie.Route

    let nodes: UnsafeMutableBufferPointer<Node>
    let routes: UnsafeMutableBufferPointer<Route>
    let bytes: UnsafeMutableBufferPointer<UInt8>
    /// The interned method names, one after the other; `methodStarts[i]`
    /// is where name i starts, `methodStarts[i + 1]` where it ends.
    let methodBytes: UnsafeMutableBufferPointer<UInt8>
    let methodStarts: UnsafeMutableBufferPointer<Int>
    let endpoints: UnsafeMutableBufferPointer<Unmanaged<Router.Endpoint>>
    let catchAll: Int32

    init(_ trie: RouteTrie, endpoints: [Router.Endpoint]) {
        nodes = RouteTable.copy(trie.nodes)
        routes = RouteTable.copy(trie.routes)
        bytes = RouteTable.copy(trie.bytes)
        methodBytes = RouteTable.copy(trie.methods.flatMap { $0 })
        methodStarts = RouteTable.copy(trie.methods.reduce(into: [0]) { $0.append($0.last! + $1.count) })
        self.endpoints = RouteTable.copy(endpoints.map { Unmanaged.passUnretained($0) })
        catchAll = trie.catchAll
    }

    private static func copy<T>(_ array: [T]) -> UnsafeMutableBufferPointer<T> {
        let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: max(array.count, 1))
        _ = buffer.initialize(from: array)
        return UnsafeMutableBufferPointer(rebasing: buffer[..<array.count])
    }

    func deallocate() {
        nodes.deallocate()
        routes.deallocate()
        bytes.deallocate()
        methodBytes.deallocate()
        methodStarts.deallocate()
        endpoints.deallocate()
    }

    // MARK: Matching

    /// The method's code, `anyMethod` when no route declares it.
    func methodCode(_ method: UnsafePointer<UInt8>) -> Int32 {
        let length = strlen(method)
        var index = 0
        while index &+ 1 < methodStarts.count {
            let start = methodStarts[index]
            if methodStarts[index &+ 1] &- start == length
                && memcmp(methodBytes.baseAddress! + start, method, length) == 0 {
                return Int32(index)
            }
            index &+= 1
        }
        return RouteTrie.anyMethod - 1  // matches only any-method routes
    }

    /// The node whose routes match `path`, or -1; fills `parameters`.
    func match(_ path: UnsafeBufferPointer<UInt8>, into parameters: inout Parameters) -> Int32 {
        Matcher(nodes: UnsafeBufferPointer(nodes), bytes: UnsafeBufferPointer(bytes), path: path)
            .descend(0, from: 0, &parameters)
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
            if code >= 0 {
                let name = methodBytes[methodStarts[Int(code)] ..< methodStarts[Int(code) + 1]]
                names.append(String(decoding: name, as: UTF8.self))
            }
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
