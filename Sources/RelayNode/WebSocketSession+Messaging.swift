import Chat
import JSON

/// Messaging over the WebSocket: `send`, `receipt`, `typing`. Callbacks keep what they need
/// (the `client_id`), never the frame: up to `maxInFlight` of them wait at once.
extension WebSocketSession {
    /// `send`: answered with `ack` or an `error` carrying the command's `client_id`.
    func onSend(_ command: Command) {
        let message: SendCommand
        do { message = try SendCommand(command.fields) } catch { return sendError(error, clientID: command.clientID) }
        startedRequest()
        node.chat.send(session, message, origin: ref) { [weak self] result in
            guard let self else { return }
            finishedRequest()
            switch result {
            case .success(let ack):
                node.metrics.messagesAcked += 1
                var event: JSONObject = ["type": "ack"]
                for (key, value) in EventJSON.ack(ack) { event[key] = value }
                write(JSON.object(event).serialized())
            case .failure(let error): sendError(error, clientID: message.clientID)
            }
        }
    }

    /// `receipt`: no answer on success (the receipt event follows), an `error` on failure.
    func onReceipt(_ command: Command) {
        let clientID = command.clientID
        let receipt: ReceiptCommand
        do { receipt = try ReceiptCommand(command.fields) } catch { return sendError(error, clientID: clientID) }
        startedRequest()
        node.chat.receipt(session, receipt, device: tracksDevice ? device : nil) { [weak self] result in
            self?.finishedRequest()
            if case .failure(let error) = result { self?.sendError(error, clientID: clientID) }
        }
    }

    /// `typing`: no answer on success; online members see a `typing` event.
    func onTyping(_ command: Command) {
        let clientID = command.clientID
        guard let id = command.fields["conversation_id"]?.stringValue, Identifiers.isValidConversation(id) else {
            return sendError(.badRequest("`conversation_id` is required"), clientID: clientID)
        }
        startedRequest()
        node.chat.typing(session, conversationID: id) { [weak self] result in
            self?.finishedRequest()
            if case .failure(let error) = result { self?.sendError(error, clientID: clientID) }
        }
    }
}
