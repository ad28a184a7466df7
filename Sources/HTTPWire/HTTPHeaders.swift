/// Header fields in the order received or added. Names compare case-insensitively
/// (RFC 9110 5.1); values are kept as given. Lookups are linear: a request has at most
/// `HTTPLimits.maxHeaderCount` fields, so a dictionary would cost more than it saves.
public struct HTTPHeaders: Sendable, Sequence {
    public typealias Element = (name: String, value: String)

    private var fields: [Element]

    public init(_ pairs: [(String, String)] = []) {
        fields = pairs.map { (name: $0.0, value: $0.1) }
    }

    /// The first value of `name`, nil if absent.
    public subscript(name: String) -> String? {
        fields.first { asciiCaseInsensitiveEquals($0.name, name) }?.value
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.filter { asciiCaseInsensitiveEquals($0.name, name) }.map(\.value)
    }

    /// Whether the comma-separated list header `name` (RFC 9110 5.6.1), across all of its
    /// lines, holds `token`, compared case-insensitively: `Connection: keep-alive, Upgrade`.
    public func containsToken(_ name: String, _ token: String) -> Bool {
        for value in values(name) {
            for item in value.split(separator: ",") {
                let trimmed = item.trimmingOWS()
                if asciiCaseInsensitiveEquals(trimmed, token) { return true }
            }
        }
        return false
    }

    public mutating func add(_ name: String, _ value: String) {
        fields.append((name: name, value: value))
    }

    /// Replaces every `name` field with one `name: value`.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        add(name, value)
    }

    public mutating func remove(_ name: String) {
        fields.removeAll { asciiCaseInsensitiveEquals($0.name, name) }
    }

    public var count: Int { fields.count }

    public func makeIterator() -> IndexingIterator<[Element]> { fields.makeIterator() }
}

/// Header names and tokens are ASCII (RFC 9110 5.1), so ASCII case folding is exact.
func asciiCaseInsensitiveEquals<A: StringProtocol, B: StringProtocol>(_ a: A, _ b: B) -> Bool {
    let x = a.utf8, y = b.utf8
    guard x.count == y.count else { return false }
    for (p, q) in zip(x, y) where p != q {
        guard asciiLower(p) == asciiLower(q) else { return false }
    }
    return true
}

@inline(__always)
func asciiLower(_ c: UInt8) -> UInt8 {
    c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") ? c | 0x20 : c
}

extension StringProtocol {
    /// Drops optional whitespace (SP / HTAB, RFC 9110 5.6.3) at both ends.
    func trimmingOWS() -> Substring {
        var s = Substring(self)
        while let first = s.first, first == " " || first == "\t" { s.removeFirst() }
        while let last = s.last, last == " " || last == "\t" { s.removeLast() }
        return s
    }
}
