/// The subcommands and the usage text.
enum BenchCommand {
    static let usage = """
        relay-bench: load generator and benchmark for Relay nodes.

        relay-bench chat    --nodes HOST:PORT[,...] [--pairs N] [--messages M] [--window W]
                            [--rate R/s|unlimited] [--body-bytes B] [--duration-s S]
                            [--warmup K] [--receipt-every K] [--signup-concurrency C]
                            [--drain-s S]
        relay-bench signup  --nodes HOST:PORT[,...] [--users N] [--concurrency C]
        relay-bench history --nodes HOST:PORT[,...] [--messages M] [--page P] [--reads R]
                            [--concurrency C]
        relay-bench group   --nodes HOST:PORT[,...] [--members N] [--messages M] [--senders S]
                            [--window W] [--body-bytes B] [--warmup K] [--drain-s S]
                            [--settle-ms MS] [--connect-concurrency C] [--signup-concurrency C]
                            [--at-creation K] [--pid PID[,PID...]]
        relay-bench lists   --nodes HOST:PORT[,...] [--recipients N] [--messages K]
                            [--signup-concurrency C]
        Every mode:         [--pid SERVER_PID] [--json FILE] [--timeout-s S] (chat, history, group, lists)

        chat: 2N users (N pairs), a WebSocket each, user k on node k mod n; each sender sends M
          messages (fewer if --duration-s ends first) to its partner, at most W unacknowledged,
          optionally paced at R per second. Reports acks/s, ack latency (send → ack) and
          delivery latency (send → the partner's `message` event), and checks every acked
          message arrived exactly once with gapless seq; exit 1 if not.
          First K warm-up messages per sender (default 1: it opens the direct chat) go one at
          a time, before the clock starts; they are checked but not in the rates or the
          ack/delivery rows (shown as "warm-up ack").
          Defaults: 1 pair, 1000 messages, window 1, 16-byte bodies, unlimited rate, no receipts.
        signup: N signups over C keep-alive connections: signups/s and latency.
          Defaults: 200 users, concurrency 8.
        history: fills one conversation with M messages, then R page reads of P messages
          (before=, walking down, wrapping) over C connections. Defaults: 1000, 1000, 100, 1.
        group: N users (member k on node k mod n), one group of them all (POST /v1/groups with
          up to --at-creation others, default and most 256, the rest added one by one), a
          WebSocket each; after K warm-up messages (default 1) have reached every member,
          S senders (members 0..S-1) send M messages in all to the group, at most W
          unacknowledged each. Every member checks each message
          arrives once, seq rising, and never on the sending connection. Reports deliveries/s
          (first send to last delivery), ack and delivery latency, and with --pid (one per
          node) the servers' summed CPU per delivery over the measured phase.
          Defaults: 100 members, 1000 messages, 1 sender, window 32, 16-byte bodies,
          --timeout-s 300, --drain-s 10, --settle-ms 500, --connect-concurrency 32 (handshakes
          up to `synced` in flight at once).
        lists: an owner and N recipients sign up, the recipients go on one list, K mass
          messages are posted to it one after another; reports recipients/s for each from its
          202 until its progress shows every recipient done (the first opens the direct chats).
          Defaults: 10,000 recipients, 1 message, signup concurrency 16.
        --pid: the server's peak RSS (VmHWM), RSS and CPU seconds used during the run.
        HOST must be an IP address. Exit status: 0 clean, 1 a check failed, 2 bad usage.
        """

    static func run(_ arguments: [String]) -> Int32 {
        guard arguments.count >= 2 else {
            print(usage)
            return 2
        }
        let rest = arguments[2...]
        do {
            switch arguments[1] {
            case "chat": return try ChatCommand.run(rest)
            case "signup": return try SignupCommand.run(rest)
            case "history": return try HistoryCommand.run(rest)
            case "group": return try GroupCommand.run(rest)
            case "lists": return try ListsCommand.run(rest)
            case "help", "--help", "-h":
                print(usage)
                return 0
            default: throw UsageError("unknown mode \(arguments[1])")
            }
        } catch let error as UsageError {
            print("relay-bench: \(error)\n\n\(usage)")
            return 2
        } catch {
            print("relay-bench: \(error)")
            return 1
        }
    }
}
