import Chat
import HTTPWire
import JSON

/// Messaging: sending, the conversation list, history pages and receipts.
extension HTTPAPI {
    /// `POST /v1/messages`: the WebSocket `send` over HTTP; answers the ack.
    func sendMessage(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            body(call) { [self] o throws(ChatError) in
                let command = try SendCommand(o)
                chat.send(session, command, origin: nil) { [self] result in
                    switch result {
                    case .success(let ack):
                        node.metrics.messagesAcked += 1
                        respond(Reply.json(200, .object(EventJSON.ack(ack))))
                    case .failure(let error):
                        respond(Reply.error(error))
                    }
                }
            }
        }
    }

    /// `GET /v1/conversations`
    func conversations(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            chat.conversations(session) { result in
                switch result {
                case .success(let list):
                    respond(Reply.json(200, ["conversations": .array(list.map { EventJSON.summary($0, full: true) })]))
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }

    /// `GET /v1/conversations/{id}/messages?before=&after=&limit=`
    func history(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            let id: String
            let query: HistoryQuery
            do {
                id = try call.parameter("id")
                let limit = try Fields.querySeq(call.request.query, "limit") ?? 50
                guard limit >= 1 else { throw ChatError.badRequest("`limit` is at least 1") }
                query = HistoryQuery(after: try Fields.querySeq(call.request.query, "after"),
                                     before: try Fields.querySeq(call.request.query, "before"),
                                     limit: Int(min(limit, Int64(ShardService.maxPageSize))))
            } catch {
                return respond(Reply.error(error as? ChatError ?? .badRequest("bad query")))
            }
            chat.history(session, conversationID: id, query: query) { result in
                switch result {
                case .success(let page):
                    respond(Reply.json(200, ["messages": .array(page.messages.map { .object(EventJSON.message($0)) }),
                                                  "has_more": .bool(page.hasMore)]))
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }

    /// `POST /v1/conversations/{id}/receipts`
    func receipts(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            body(call) { [self] o throws(ChatError) in
                let command = try ReceiptCommand(o, conversationID: try call.parameter("id"))
                chat.receipt(session, command) { result in
                    switch result {
                    case .success: respond(Reply.noContent())
                    case .failure(let error): respond(Reply.error(error))
                    }
                }
            }
        }
    }
}
