/// One route: a method, a path pattern and what serves it.
public struct Route<Handler> {
    public let method: String
    public let pattern: PathPattern
    public let handler: Handler

    public init(_ method: String, _ pattern: String, _ handler: Handler) {
        self.method = method
        self.pattern = PathPattern(pattern)
        self.handler = handler
    }

    public static func get(_ pattern: String, _ handler: Handler) -> Route { Route("GET", pattern, handler) }
    public static func post(_ pattern: String, _ handler: Handler) -> Route { Route("POST", pattern, handler) }
    public static func put(_ pattern: String, _ handler: Handler) -> Route { Route("PUT", pattern, handler) }
    public static func patch(_ pattern: String, _ handler: Handler) -> Route { Route("PATCH", pattern, handler) }
    public static func delete(_ pattern: String, _ handler: Handler) -> Route { Route("DELETE", pattern, handler) }
}

extension Route: Sendable where Handler: Sendable {}

/// Method + path pattern -> handler, and the 404 and 405 answers that follow from the table.
///
/// - A request matches the routes whose pattern matches its path segments. Among those of
///   its method, the most specific pattern serves it (literal over parameter, from the left;
///   `PathPattern.isMoreSpecific`), so `PATCH /v1/users/me` and `GET /v1/users/{user}` can
///   live side by side.
/// - HEAD is served by the GET route (RFC 9110 9.3.2: the caller drops the body).
/// - Some route matches the path but none of the method: `.methodNotAllowed`, with the
///   methods the path takes for the `Allow` header (RFC 9110 15.5.6, 10.2.1). No route
///   matches the path: `.notFound`.
/// - `alsoAllowed` methods (OPTIONS: the CORS preflight) are answered by the caller on every
///   path before it looks up a route; they appear in every `Allow` list and may not be routed.
///
/// The table is checked when it is built: a malformed pattern, a method the parser does not
/// accept, HEAD, or two routes with one method and one pattern shape stop the process.
public struct RouteTable<Handler> {
    public enum Match {
        case found(Handler, PathParameters)
        case methodNotAllowed(allow: [String])
        case notFound
    }

    public let routes: [Route<Handler>]
    private let alsoAllowed: [String]
    /// Indexes into `routes` by segment count: a pattern matches only paths of its length.
    private let bySegmentCount: [Int: [Int]]

    public init(_ routes: [Route<Handler>], alsoAllowed: [String] = []) {
        let mistakes = Self.mistakes(in: routes, alsoAllowed: alsoAllowed)
        precondition(mistakes.isEmpty, "route table: " + mistakes.joined(separator: "; "))
        var bySegmentCount: [Int: [Int]] = [:]
        for (index, route) in routes.enumerated() {
            bySegmentCount[route.pattern.segments.count, default: []].append(index)
        }
        self.routes = routes
        self.alsoAllowed = alsoAllowed
        self.bySegmentCount = bySegmentCount
    }

    /// What `init` refuses, one line per mistake in table order: a method the parser does
    /// not accept, HEAD (the GET route serves it), an `alsoAllowed` method, and a second
    /// route with the method and pattern shape of an earlier one (parameter names aside:
    /// `/a/{x}` and `/a/{y}` match the same paths).
    public static func mistakes(in routes: [Route<Handler>], alsoAllowed: [String] = []) -> [String] {
        var mistakes: [String] = []
        var seen: [(method: String, shape: [String?], pattern: PathPattern)] = []
        for route in routes {
            if !HTTPRequest.allowedMethods.contains(route.method) || route.method == "HEAD" || alsoAllowed.contains(route.method) {
                mistakes.append("\(route.method) \(route.pattern): no route may take \(route.method)")
            }
            if let earlier = seen.first(where: { $0.method == route.method && $0.shape == route.pattern.shape }) {
                mistakes.append("\(route.method) \(route.pattern) matches what \(route.method) \(earlier.pattern) does")
            }
            seen.append((route.method, route.pattern.shape, route.pattern))
        }
        return mistakes
    }

    /// The route for `method` on `segments` (decoded, empty ones dropped: `HTTPRequest.pathSegments`).
    public func lookup(method: String, segments: [String]) -> Match {
        let wanted = method == "HEAD" ? "GET" : method
        var best: (route: Route<Handler>, parameters: PathParameters)?
        var allowed: [String] = []
        for index in bySegmentCount[segments.count] ?? [] {
            let route = routes[index]
            guard let parameters = route.pattern.match(segments) else { continue }
            if route.method == wanted {
                if best.map({ route.pattern.isMoreSpecific(than: $0.route.pattern) }) ?? true { best = (route, parameters) }
            } else if !allowed.contains(route.method) {
                allowed.append(route.method)
            }
        }
        if let best { return .found(best.route.handler, best.parameters) }
        if allowed.isEmpty { return .notFound }
        if allowed.contains("GET") { allowed.append("HEAD") }
        for method in alsoAllowed where !allowed.contains(method) { allowed.append(method) }
        return .methodNotAllowed(allow: allowed.sorted())
    }
}

extension RouteTable: Sendable where Handler: Sendable {}
extension RouteTable.Match: Sendable where Handler: Sendable {}
extension RouteTable.Match: Equatable where Handler: Equatable {}
