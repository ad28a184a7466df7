import HTTPWire

/// The web client: `GET /` is the app, `GET /web/{file}` its scripts and styles
/// (WebClient.swift).
extension HTTPAPI {
    func webIndex(_ call: Call) { webFile(call, name: "index.html") }

    func webAsset(_ call: Call) {
        guard let name = try? call.parameter("file") else { return call.respond(Reply.error(status: 404, code: "not_found", message: "no file")) }
        webFile(call, name: name)
    }

    private func webFile(_ call: Call, name: String) {
        guard let response = node.web.response(for: name, ifNoneMatch: call.request.headers["If-None-Match"]) else {
            return call.respond(Reply.error(status: 404, code: "not_found", message: "no file \(name)"))
        }
        call.respond(response)
    }
}
