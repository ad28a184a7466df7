import Foundation
import JSON

/// What `relay` keeps between runs: the cluster's node URLs, the signed-in user and their
/// token, in a JSON file readable by its owner only (0600). `--config FILE` or `RELAY_CONFIG`
/// picks the file; the default is `~/.config/relay/cli.json`.
struct CLIState {
    var nodes: [String] = []
    var user: String?
    var token: String?
    var device: String?

    static func defaultPath() -> String {
        if let path = ProcessInfo.processInfo.environment["RELAY_CONFIG"], !path.isEmpty { return path }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? "."
        return home + "/.config/relay/cli.json"
    }

    static func load(_ path: String) -> CLIState {
        guard let data = FileManager.default.contents(atPath: path), let json = try? JSON.parse([UInt8](data)) else { return CLIState() }
        var s = CLIState()
        s.nodes = json["nodes"]?.arrayValue?.compactMap(\.stringValue) ?? []
        s.user = json["user"]?.stringValue
        s.token = json["token"]?.stringValue
        s.device = json["device"]?.stringValue
        return s
    }

    /// Written to a temporary file created 0600, then renamed over the old one.
    func save(_ path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        var o: JSONObject = ["nodes": .array(nodes.map { .string($0) })]
        if let user { o["user"] = .string(user) }
        if let token { o["token"] = .string(token) }
        if let device { o["device"] = .string(device) }
        let bytes = Array((JSON.object(o).serialized() + "\n").utf8)
        let temp = path + ".tmp"
        unlink(temp)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError.usage("cannot write \(temp): \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        fsync(fd)
        close(fd)
        guard written == bytes.count, rename(temp, path) == 0 else { throw CLIError.usage("cannot write \(path)") }
    }
}

/// Why a command failed, and the exit code it gives (docs/CLI.md).
enum CLIError: Error {
    /// 2: the command line is wrong.
    case usage(String)
    /// 1: the server refused (4xx other than 401), with its error code and message.
    case refused(status: Int, code: String, message: String, extra: JSONObject)
    /// 3: no node answered, or every one was unavailable.
    case unreachable(String)
    /// 4: not signed in, or the token no longer works.
    case unauthorized(String)

    var exitCode: Int32 {
        switch self {
        case .refused: 1
        case .usage: 2
        case .unreachable: 3
        case .unauthorized: 4
        }
    }

    var message: String {
        switch self {
        case .usage(let text), .unreachable(let text), .unauthorized(let text): text
        case .refused(let status, let code, let message, let extra):
            "\(code) (\(status)): \(message)" + (extra["billing_url"]?.stringValue.map { "; billing: \($0)" } ?? "")
        }
    }
}
