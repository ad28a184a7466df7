import Foundation
import Hashing
import HTTPWire

/// The web client's static files (Sources/RelayNode/Web, shipped as the package's resources),
/// read once at start and served from memory with their type, an ETag, `Cache-Control:
/// no-cache` (the browser revalidates, so an upgraded node's files show at the next load) and
/// a Content-Security-Policy that allows this origin's scripts and styles only, and
/// connections to the cluster's other nodes (the client fails over to them).
struct WebClient {
    struct File {
        let body: [UInt8]
        let type: String
        let etag: String
    }

    let files: [String: File]

    static let contentSecurityPolicy = [
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob: data:",
        "media-src 'self' blob:", "connect-src 'self' http: https: ws: wss:", "object-src 'none'",
        "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'",
    ].joined(separator: "; ")

    static let types = ["html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
                        "css": "text/css; charset=utf-8", "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon"]

    /// The files of `folder` (not its subfolders); names without a known type are skipped.
    init(folder: URL?) {
        var files: [String: File] = [:]
        if let folder, let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) {
            for name in names {
                guard let type = Self.types[(name as NSString).pathExtension.lowercased()],
                      let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) else { continue }
                let body = [UInt8](data)
                files[name] = File(body: body, type: type, etag: "\"" + Hex.encode(Array(SHA256.hash(body).prefix(12))) + "\"")
            }
        }
        self.files = files
    }

    /// The bundle's `Web` folder.
    static func bundled() -> WebClient { WebClient(folder: Bundle.module.resourceURL?.appendingPathComponent("Web")) }

    /// The answer for `name`, or nil when there is no such file.
    func response(for name: String, ifNoneMatch: String?) -> HTTPResponse? {
        guard let file = files[name] else { return nil }
        var headers = HTTPHeaders([("Content-Type", file.type), ("ETag", file.etag), ("Cache-Control", "no-cache"),
                                   ("Content-Security-Policy", Self.contentSecurityPolicy),
                                   ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")])
        if let tags = ifNoneMatch, tags.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == file.etag || $0 == "*" }) {
            return HTTPResponse(status: 304, headers: headers)
        }
        return HTTPResponse(status: 200, headers: headers, body: file.body)
    }
}
