import Foundation
import JSON
import RelayClient

extension CLI {
    /// Streams the file up (bounded memory); prints the asset id.
    func upload() throws(CLIError) {
        let path = try word(1, "FILE")
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .usage("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw .usage("\(path) is not a regular file") }
        let size = Int(info.st_size)
        let type = option("--type") ?? Self.contentType(path)
        let showProgress = !json && isatty(2) != 0
        let answer = try client.attempt(auth: true) { http, auth throws(CLIError) in
            lseek(fd, 0, SEEK_SET)
            let result = http.call("POST", "/v1/assets", headers: auth + [("Content-Type", type)], file: fd, length: size) { sent in
                if showProgress { FileHandle.standardError.write(Data("\ruploading \(sent * 100 / max(size, 1))%".utf8)) }
            }
            if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
            switch result {
            case .success(let a): return a
            case .failure(let f): throw .unreachable("\(http.host):\(http.port): \(f)")
            }
        }
        let asset = try ClusterClient.decode(answer)
        print(asset, asset["asset_id"]?.stringValue ?? "")
    }

    /// Streams the asset to a file (`-o`, else its id in the current folder).
    func download() throws(CLIError) {
        let id = try word(1, "ASSET")
        let path = option("-o") ?? id
        let temp = path + ".part"
        let answer = try client.attempt(auth: true) { http, auth throws(CLIError) in
            let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw .usage("cannot write \(temp): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            switch http.download("/v1/assets/\(Self.escape(id))", headers: auth, to: fd) {
            case .success(let a): return a
            case .failure(let f): throw .unreachable("\(http.host):\(http.port): \(f)")
            }
        }
        guard answer.status == 200 else {
            unlink(temp)
            _ = try ClusterClient.decode(answer)
            return
        }
        guard rename(temp, path) == 0 else { throw .usage("cannot write \(path)") }
        var info = stat()
        stat(path, &info)
        print(["asset_id": .string(id), "path": .string(path), "size": .int(Int64(info.st_size)),
               "content_type": .string(answer.header("Content-Type") ?? "")], "saved \(path) (\(info.st_size) bytes)")
    }

    static func contentType(_ path: String) -> String {
        switch (path as NSString).pathExtension.lowercased() {
        case "jpg", "jpeg": "image/jpeg"
        case "png": "image/png"
        case "gif": "image/gif"
        case "webp": "image/webp"
        case "mp4": "video/mp4"
        case "webm": "video/webm"
        case "mp3": "audio/mpeg"
        case "ogg": "audio/ogg"
        case "pdf": "application/pdf"
        case "txt": "text/plain"
        default: "application/octet-stream"
        }
    }
}
