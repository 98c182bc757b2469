#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The router's routes as they are added: a trie of path segments in flat
/// arrays of plain values (indices, no references). `RouteTable` is its
/// frozen copy in raw memory, which requests are matched against.
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
}
