import Chat
import Hashing
import HTTPWire
import JSON

/// Assets (docs/ASSETS.md): `POST /v1/assets` streams the upload to disk, `GET
/// /v1/assets/{id}` streams it back, from any node.
extension HTTPAPI {
    /// Headers every answer with an asset's bytes carries: its bytes never change under its id.
    static let assetCacheControl = "private, max-age=31536000, immutable"

    /// `POST /v1/assets`: raw bytes with their `Content-Type` → 201 `{asset_id, size,
    /// content_type}`. The parser has checked `Content-Length` against `max_asset_bytes` (413
    /// before any byte of the body); the token is checked before the body is read.
    func uploadAsset(_ call: Call) {
        let respond = call.respond
        guard call.request.headers["Content-Length"] != nil, let length = call.request.streamedBodyBytes else {
            return respond(Reply.error(status: 411, code: "bad_request", message: "an upload needs Content-Length (no chunked uploads)"))
        }
        guard length > 0 else { return respond(Reply.error(.badRequest("the asset is empty"))) }
        let contentType = call.request.headers["Content-Type"]?.trimmingCharacters(in: .whitespaces) ?? "application/octet-stream"
        guard !contentType.isEmpty, contentType.utf8.count <= AssetLimits.maxContentTypeBytes else {
            return respond(Reply.error(.badRequest("Content-Type must be 1 to \(AssetLimits.maxContentTypeBytes) bytes")))
        }
        let expectsContinue = call.request.headers["Expect"].map { $0.lowercased() == "100-continue" } ?? false
        authenticated(call) { [self] session in
            guard let connection = call.connection else { return }
            let assetID = "a_" + Hex.encode(node.random.bytes(16))
            guard let upload = node.assets.beginUpload(assetID: assetID, size: Int64(length)) else {
                return respond(Reply.error(.unavailable("the asset could not be stored", retryAfterMs: 1_000)))
            }
            upload.setPaused = { [weak connection] paused in connection?.setBodyPaused(paused) }
            connection.streamBody(expectsContinue: expectsContinue, ClientConnection.BodyConsumer(
                consume: { upload.append($0) },
                finished: { [self] in
                    upload.setPaused = nil
                    guard !upload.writer.failed, upload.writer.written == Int64(length) else {
                        upload.abort()
                        return respond(Reply.error(.unavailable("the asset could not be stored", retryAfterMs: 1_000)))
                    }
                    node.assets.finishUpload(upload, contentType: contentType, uploader: session.user) { result in
                        switch result {
                        case .failure(let error): respond(Reply.error(error))
                        case .success(let meta):
                            respond(Reply.json(201, ["asset_id": .string(meta.assetID), "size": .int(meta.size),
                                                     "content_type": .string(meta.contentType)]))
                        }
                    }
                },
                aborted: { upload.setPaused = nil; upload.abort() }))
        }
    }

    /// `GET /v1/assets/{id}`: the bytes, with `ETag`, `Cache-Control`, 304 on `If-None-Match`,
    /// 206/416 on a single `Range`; 404 for an asset the caller may not read, as for none.
    func downloadAsset(_ call: Call) {
        let respond = call.respond
        let request = call.request
        authenticated(call) { [self] session in
            let assetID: String
            do throws(ChatError) { assetID = try call.parameter("id") } catch { return respond(Reply.error(error)) }
            chat.readableAsset(assetID, user: session.user) { [self] result in
                let meta: AssetMeta
                switch result {
                case .failure(let error): return respond(Reply.error(error))
                case .success(let m): meta = m
                }
                let etag = "\"\(meta.sha256)\""
                var head = HTTPResponse(status: 200)
                head.headers.set("ETag", etag)
                head.headers.set("Cache-Control", Self.assetCacheControl)
                head.headers.set("Accept-Ranges", "bytes")
                if ifNoneMatchMatches(request.headers["If-None-Match"], etag: etag) {
                    // RFC 9110 15.4.5: no content; a Content-Length, if any, must be the 200's.
                    head.status = 304
                    call.connection?.respondStreaming(head, length: Int(meta.size), keepAlive: request.keepAlive, headOnly: true) { _, _, _ in }
                    return
                }
                let size = Int(meta.size)
                var first = 0, count = size
                switch ByteRange.parse(request.headers["Range"], size: size) {
                case .whole: break
                case .unsatisfiable:
                    var response = Reply.error(status: 416, code: "bad_request", message: "the range is outside the asset's \(size) bytes")
                    response.headers.set("Content-Range", "bytes */\(size)")
                    return respond(response)
                case .part(let a, let b):
                    head.status = 206
                    head.headers.set("Content-Range", "bytes \(a)-\(b)/\(size)")
                    first = a
                    count = b - a + 1
                }
                head.headers.set("Content-Type", meta.contentType)
                let assets: AssetStore = node.assets, start = first
                let read: (Int, Int, @escaping ([UInt8]?) -> Void) -> Void = { offset, maxBytes, deliver in
                    assets.read(meta, offset: Int64(start + offset), length: maxBytes, deliver: deliver)
                }
                // The first piece is fetched before the head goes out, so a file no replica can
                // serve is a 503 the client can retry rather than a cut-off 200.
                read(0, min(count, ClientConnection.streamedAnswerPieceBytes)) { [weak connection = call.connection] piece in
                    guard let connection else { return }
                    guard let piece else { return respond(Reply.error(.unavailable("the asset's file is not reachable now", retryAfterMs: 1_000))) }
                    var firstPiece: [UInt8]? = piece
                    connection.respondStreaming(head, length: count, keepAlive: request.keepAlive, headOnly: request.method == "HEAD") {
                        offset, maxBytes, deliver in
                        if offset == 0, let held = firstPiece, held.count <= maxBytes {
                            firstPiece = nil
                            return deliver(held)
                        }
                        firstPiece = nil
                        read(offset, maxBytes, deliver)
                    }
                }
            }
        }
    }
}
