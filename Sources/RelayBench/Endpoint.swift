/// A node's client address, "HOST:PORT" with HOST an IP literal (the event loop does not
/// resolve names).
struct Endpoint: Sendable, Equatable, CustomStringConvertible {
    let host: String
    let port: Int

    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1..<65_536).contains(port) else { return nil }
        let host = String(text[..<colon])
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }

    var description: String { "\(host):\(port)" }

    /// A comma-separated list, as `--nodes` takes it.
    static func list(_ text: String) -> [Endpoint]? {
        let parts = text.split(separator: ",").map(String.init)
        let endpoints = parts.compactMap(Endpoint.init)
        return endpoints.isEmpty || endpoints.count != parts.count ? nil : endpoints
    }
}
