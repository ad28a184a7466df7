import JSON

extension CLI {
    func members() -> [JSON] {
        (option("--members") ?? "").split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }
    }

    func group() throws(CLIError) {
        switch try word(1, "group command (create, add, remove, invite, join, show)") {
        case "create":
            let answer = try client.call("POST", "/v1/groups", ["title": .string(try rest(from: 2, "TITLE")), "members": .array(members())])
            print(answer, "created \(answer["conversation_id"]?.stringValue ?? "")")
        case "add":
            let id = try word(2, "GROUP"), user = try word(3, "USER")
            try client.call("POST", "/v1/groups/\(Self.escape(id))/members", ["user": .string(user)])
            print(["conversation_id": .string(id), "added": .string(user)], "added \(user) to \(id)")
        case "remove":
            let id = try word(2, "GROUP"), user = try word(3, "USER")
            try client.call("DELETE", "/v1/groups/\(Self.escape(id))/members/\(Self.escape(user))")
            print(["conversation_id": .string(id), "removed": .string(user)], "removed \(user) from \(id)")
        case "invite":
            let id = try word(2, "GROUP")
            var body: JSONObject = [:]
            if let uses = try intOption("--max-uses") { body["max_uses"] = .int(uses) }
            if let secs = try intOption("--expires-in") { body["expires_in_s"] = .int(secs) }
            let answer = try client.call("POST", "/v1/groups/\(Self.escape(id))/invites", body)
            print(answer, "invite code: \(answer["code"]?.stringValue ?? "")  (web: \(client.current)/#/invite/\(answer["code"]?.stringValue ?? ""))")
        case "join":
            let code = try word(2, "CODE")
            let answer = try client.call("POST", "/v1/invites/\(Self.escape(code))/accept")
            print(answer, "joined \(answer["conversation_id"]?.stringValue ?? "")")
        case "show":
            let g = try client.call("GET", "/v1/groups/\(Self.escape(try word(2, "GROUP")))")
            let lines = (g["members"]?.arrayValue ?? []).map {
                "  \($0["user"]?.stringValue ?? "") (\($0["role"]?.stringValue ?? "")) read #\($0["read"]?.intValue ?? 0)"
            }
            print(g, "\(g["title"]?.stringValue ?? "")\n" + lines.joined(separator: "\n"))
        case let other: throw .usage("unknown group command \(other)")
        }
    }

    func block() throws(CLIError) {
        let user = try word(1, "USER")
        let undo = flags.contains("--undo")
        try client.call(undo ? "DELETE" : "PUT", "/v1/blocks/\(Self.escape(user))")
        print(["user": .string(user), "blocked": .bool(!undo)], undo ? "unblocked \(user)" : "blocked \(user)")
    }

    func list() throws(CLIError) {
        switch try word(1, "list command (create, add, send, show)") {
        case "create":
            let answer = try client.call("POST", "/v1/lists", ["name": .string(try rest(from: 2, "NAME")), "members": .array(members())])
            print(answer, "created list \(answer["list_id"]?.stringValue ?? "")")
        case "add":
            let id = try word(2, "LIST"), user = try word(3, "USER")
            try client.call("PUT", "/v1/lists/\(Self.escape(id))/members/\(Self.escape(user))")
            print(["list_id": .string(id), "added": .string(user)], "added \(user) to \(id)")
        case "send":
            let id = try word(2, "LIST")
            let clientID = option("--client-id") ?? Self.newClientID()
            let answer = try client.call("POST", "/v1/lists/\(Self.escape(id))/messages",
                                         ["client_id": .string(clientID), "kind": .string("text"), "body": .string(try rest(from: 3, "TEXT"))])
            print(answer, "sending to \(answer["recipients"]?.intValue ?? 0) recipients (client id \(clientID))")
        case "show":
            let answer = try client.call("GET", "/v1/lists")
            for l in answer["lists"]?.arrayValue ?? [] {
                print(l, "\(l["list_id"]?.stringValue ?? "") \(l["name"]?.stringValue ?? "") (\(l["size"]?.intValue ?? 0))")
            }
        case let other: throw .usage("unknown list command \(other)")
        }
    }

    func tip() throws(CLIError) {
        let user = try word(1, "USER")
        guard let cents = Int64(try word(2, "CENTS")), cents > 0 else { throw .usage("CENTS is a positive integer") }
        let text = words.count > 3 ? words[3...].joined(separator: " ") : "tip"
        let body: JSONObject = ["client_id": .string(option("--client-id") ?? Self.newClientID()), "to": .string(user),
                                "kind": .string("tip"), "body": .string(text),
                                "tip": .object(["amount_cents": .int(cents), "currency": .string(option("--currency") ?? "USD")])]
        let ack = try client.call("POST", "/v1/messages", body)
        print(ack, "tipped \(user) \(cents) cents: \(ack["conversation_id"]?.stringValue ?? "") #\(ack["seq"]?.intValue ?? 0)")
    }
}
