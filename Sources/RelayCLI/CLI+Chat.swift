import Foundation
import JSON
import RelayClient

extension CLI {
    func send() throws(CLIError) {
        var body: JSONObject = ["client_id": .string(option("--client-id") ?? Self.newClientID()),
                                "kind": .string(option("--kind") ?? "text")]
        let text: String
        if let conversation = option("--conversation") {
            body["conversation_id"] = .string(conversation)
            text = try rest(from: 1, "TEXT")
        } else {
            body["to"] = .string(try word(1, "USER (or --conversation ID)"))
            text = try rest(from: 2, "TEXT")
        }
        body["body"] = .string(text)
        if let assets = options["--attach"] { body["attachments"] = .array(assets.map { .string($0) }) }
        let ack = try client.call("POST", "/v1/messages", body)
        print(ack, "sent: \(ack["conversation_id"]?.stringValue ?? "") #\(ack["seq"]?.intValue ?? 0)")
    }

    func history() throws(CLIError) {
        let id = try word(1, "CONVERSATION")
        var query = "limit=\(try intOption("--limit") ?? 50)"
        if let before = try intOption("--before") { query += "&before=\(before)" }
        let page = try client.call("GET", "/v1/conversations/\(Self.escape(id))/messages?\(query)")
        for m in page["messages"]?.arrayValue ?? [] { print(m, Self.line(m)) }
    }

    func conversations() throws(CLIError) {
        let list = try client.call("GET", "/v1/conversations")
        for c in list["conversations"]?.arrayValue ?? [] {
            let id = c["conversation_id"]?.stringValue ?? ""
            let title = c["title"]?.stringValue ?? ""
            print(c, "\(id)\(title.isEmpty ? "" : " \"\(title)\"")  last #\(c["last_seq"]?.intValue ?? 0), unread \(c["unread"]?.intValue ?? 0)")
        }
    }

    /// Prints messages as they come, over the WebSocket; on a drop it connects to the next
    /// node, and with `sync` from the last seq printed per conversation it resumes without a
    /// gap or a repeat. Each printed message is acknowledged as delivered.
    func listen() throws(CLIError) {
        guard let token = state.token else { throw .unauthorized("not signed in: run `relay login USER` first") }
        let limit = try intOption("--count")
        let endMs = try intOption("--seconds").map { BlockingSocket.nowMs() + $0 * 1000 }
        var printed = 0
        var top: [String: Int64] = [:]
        var failures = 0
        client.discover()
        while limit.map({ printed < $0 }) ?? true {
            if let endMs, BlockingSocket.nowMs() >= endMs { return }
            guard let (host, port, _) = BlockingHTTPClient.parse(url: client.current + "/") else { throw .usage("bad node \(client.current)") }
            let device = state.device ?? "cli"
            let target = "/v1/ws?token=\(Self.escape(token))&device=\(Self.escape(device))"
            let ws: BlockingWebSocket
            do { ws = try BlockingWebSocket(host: host, port: port, target: target, timeoutMs: 10_000) } catch {
                if case .malformed(let why) = error, why.hasPrefix("HTTP 401") { throw .unauthorized("the token was refused") }
                failures += 1
                if failures > 3 * client.nodes.count { throw .unreachable("no node accepted the WebSocket: \(error)") }
                client.nodes.append(client.nodes.removeFirst())
                usleep(300_000)
                continue
            }
            defer { ws.close() }
            var since: JSONObject = [:]
            for (id, seq) in top { since[id] = .int(seq) }
            do {
                while limit.map({ printed < $0 }) ?? true {
                    let wait = endMs.map { max(0, Int($0 - BlockingSocket.nowMs())) } ?? 30_000
                    if let endMs, BlockingSocket.nowMs() >= endMs { return }
                    guard let event = try ws.receive(timeoutMs: min(wait, 30_000)) else {
                        try ws.send(#"{"type":"ping"}"#)
                        continue
                    }
                    guard case .text(let text) = event else { break }
                    guard let e = try? JSON.parse(text) else { continue }
                    switch e["type"]?.stringValue {
                    case "hello":
                        failures = 0
                        if !json { FileHandle.standardError.write(Data("listening on \(e["node"]?.stringValue ?? "?")\n".utf8)) }
                    case "synced":
                        if !since.isEmpty { try ws.send(JSON.object(["type": "sync", "since": .object(since)]).serialized()) }
                    case "message":
                        guard let id = e["conversation_id"]?.stringValue, let seq = e["seq"]?.intValue else { continue }
                        if seq <= top[id, default: 0] { continue }   // already printed (backlog and sync overlap)
                        top[id] = seq
                        print(e, Self.line(e))
                        printed += 1
                        try ws.send(JSON.object(["type": "receipt", "conversation_id": .string(id), "delivered": .int(seq)]).serialized())
                    default: continue
                    }
                }
            } catch {
                // The node went away mid-read: the next one.
            }
            if limit.map({ printed >= $0 }) ?? false { return }
            client.nodes.append(client.nodes.removeFirst())
        }
    }

    static func line(_ m: JSON) -> String {
        let id = m["conversation_id"]?.stringValue ?? ""
        let seq = m["seq"]?.intValue ?? 0
        let sender = m["sender"]?.stringValue ?? ""
        let kind = m["kind"]?.stringValue ?? "text"
        let body = m["body"]?.stringValue ?? ""
        let extra = kind == "text" ? "" : "[\(kind)] "
        let assets = m["attachments"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return "\(id) #\(seq) \(sender): \(extra)\(body)" + (assets.isEmpty ? "" : " (\(assets.joined(separator: ", ")))")
    }

    static func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?&=+#"))) ?? s
    }
}
