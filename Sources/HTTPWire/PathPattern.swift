/// A route's path: literal segments and named parameters, "/v1/groups/{id}/members/{user}/role".
///
/// It is matched against `HTTPRequest.pathSegments`: segments split at '/' with empty ones
/// dropped, each percent-decoded after the split. So a trailing slash and doubled slashes
/// do not matter ("/v1/conversations/" is "/v1/conversations"), and a parameter takes exactly
/// one non-empty decoded segment: an encoded "%2F" stays inside it, a raw '/' never does.
public struct PathPattern: Hashable, Sendable, CustomStringConvertible {
    public enum Segment: Hashable, Sendable {
        case literal(String)
        case parameter(String)
    }

    public let segments: [Segment]

    /// A mistake in a pattern is a programming error, found when the table is built:
    /// the text starts with '/', has no empty segment (no "//", no trailing '/' but "/"
    /// itself), and each segment is either free of braces or a whole `{name}` whose name is
    /// letters, digits and '_', different from the pattern's other names.
    public init(_ text: String) {
        precondition(text.first == "/", "route pattern \(text) does not start with '/'")
        var segments: [Segment] = []
        if text != "/" {
            for part in text.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
                precondition(!part.isEmpty, "route pattern \(text) has an empty segment")
                if part.first == "{" && part.last == "}" {
                    let name = String(part.dropFirst().dropLast())
                    precondition(!name.isEmpty && name.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }),
                                 "route pattern \(text): parameter {\(name)} is not letters, digits and '_'")
                    precondition(!segments.contains(.parameter(name)), "route pattern \(text) names {\(name)} twice")
                    segments.append(.parameter(name))
                } else {
                    precondition(!part.contains("{") && !part.contains("}"), "route pattern \(text): stray brace in \(part)")
                    segments.append(.literal(String(part)))
                }
            }
        }
        self.segments = segments
    }

    /// The pattern with its parameters' names left out: two patterns of one shape match
    /// exactly the same paths, so one method may not have both.
    var shape: [String?] {
        segments.map { if case .literal(let text) = $0 { text } else { nil } }
    }

    /// The parameters `path` binds, in pattern order, or nil if it does not match.
    func match(_ path: [String]) -> PathParameters? {
        guard path.count == segments.count else { return nil }
        var bound: [(name: String, value: String)] = []
        for (segment, text) in zip(segments, path) {
            switch segment {
            case .literal(let literal): guard text == literal else { return nil }
            case .parameter(let name):
                guard !text.isEmpty else { return nil }
                bound.append((name, text))
            }
        }
        return PathParameters(bound)
    }

    /// Precedence between two patterns that match the same path: reading from the left,
    /// the first segment where one has a literal and the other a parameter decides, and the
    /// literal wins. Two patterns that never differ so have the same shape.
    func isMoreSpecific(than other: PathPattern) -> Bool {
        for (mine, theirs) in zip(segments, other.segments) {
            switch (mine, theirs) {
            case (.literal, .parameter): return true
            case (.parameter, .literal): return false
            default: continue
            }
        }
        return false
    }

    public var description: String {
        "/" + segments.map {
            switch $0 {
            case .literal(let text): text
            case .parameter(let name): "{\(name)}"
            }
        }.joined(separator: "/")
    }
}

/// The values a matched pattern's parameters took, already percent-decoded.
public struct PathParameters: Equatable, Sendable, CustomStringConvertible {
    /// In pattern order; a handful at most, so a scan beats a dictionary.
    private let bound: [(name: String, value: String)]

    public init(_ bound: [(name: String, value: String)] = []) { self.bound = bound }

    /// The named parameter's value, nil if the route's pattern has no such name.
    public subscript(name: String) -> String? {
        bound.first { $0.name == name }?.value
    }

    /// The named parameter's value. A handler asking for a name its pattern lacks is a bug
    /// between the table and the handler; it throws rather than trap so that the request
    /// fails, not the node.
    public func value(_ name: String) throws(MissingPathParameter) -> String {
        guard let value = self[name] else { throw MissingPathParameter(name: name, bound: bound.map(\.name)) }
        return value
    }

    public var names: [String] { bound.map(\.name) }

    public static func == (a: PathParameters, b: PathParameters) -> Bool {
        a.bound.elementsEqual(b.bound) { $0.name == $1.name && $0.value == $1.value }
    }

    public var description: String {
        "[" + bound.map { "\($0.name): \($0.value)" }.joined(separator: ", ") + "]"
    }
}

public struct MissingPathParameter: Error, Sendable, Equatable, CustomStringConvertible {
    public let name: String
    /// The names the route's pattern does have.
    public let bound: [String]

    public var description: String { "no path parameter {\(name)} (the route binds \(bound))" }
}
