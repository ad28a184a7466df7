import Store

// The front's side of the conversation list (the shard operations are in Conversations.swift).
extension ChatService {
    /// The user's conversations with cursors and unread counts, newest activity first: one
    /// read of the user's index, then one request per shard that holds any of them.
    /// With `device`, each `delivered` is that device's own cursor (the connect backlog's).
    public func conversations(_ session: Session, device: String? = nil, deviceFirstSeen: Int64 = 0,
                              reply: @escaping (Result<[ConversationSummary], ChatError>) -> Void) {
        router.call(ConversationIndex(user: session.user)) { [self] result in
            let ids: [String]
            switch result {
            case .success(let list): ids = list
            case .failure(let error): return reply(.failure(error))
            }
            var byShard: [Int: [String]] = [:]
            for id in ids { byShard[shardMap.shard(for: .conversation(id)), default: []].append(id) }
            let requests = byShard.keys.sorted().map { Summaries(user: session.user, conversationIDs: byShard[$0]!, device: device,
                                                                     deviceFirstSeen: deviceFirstSeen) }
            router.callAll(requests) { results in
                var all: [ConversationSummary] = []
                for result in results {
                    switch result {
                    case .success(let list): all += list
                    case .failure(let error): return reply(.failure(error))
                    }
                }
                all.sort { ($0.lastTs, $1.conversationID) > ($1.lastTs, $0.conversationID) }
                reply(.success(all))
            }
        }
    }
}
