import Glibc

/// Where a login comes from, as the throttle counts it (docs/OPERATIONS.md, "Login
/// throttling"). Only the TCP peer's address: a client's own headers (`X-Forwarded-For`) are
/// never trusted, since anyone can send them.
public enum LoginSource {
    /// The IP of a TCP peer's "ip:port" or "[ipv6]:port" (Net's `SocketAddress` format), without
    /// the port or brackets. Text in neither form is returned as it is.
    public static func ip(ofRemoteAddress text: String) -> String {
        if text.hasPrefix("["), let close = text.lastIndex(of: "]") {
            return String(text[text.index(after: text.startIndex)..<close])
        }
        if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
            return String(text[..<colon])
        }
        return text
    }

    /// The key a source is throttled under: an IPv4 address as it is (also when written as an
    /// IPv4-mapped IPv6 address), an IPv6 address's /64 network (RFC 4291 2.5.4: one
    /// subscriber or host usually holds a whole /64, and privacy addresses, RFC 8981, rotate
    /// inside it), anything unparsable as it is.
    public static func throttleKey(ip: String) -> String {
        var v6 = in6_addr()
        guard !ip.contains("."), inet_pton(AF_INET6, ip, &v6) == 1 else {
            if ip.lowercased().hasPrefix("::ffff:"), ip.contains(".") { return String(ip.dropFirst(7)) }
            return ip
        }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        var groups: [String] = []
        for i in stride(from: 0, to: 8, by: 2) {
            groups.append(String(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]), radix: 16))
        }
        return groups.joined(separator: ":") + "::/64"
    }
}
