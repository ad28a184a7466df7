/// The mutable working form of a placement, with the two operations that change it: a node
/// joins, a node leaves. Both keep the balance and move only what they must:
///
/// - join: the new node takes exactly floor(S/N') primary slots and floor(S(r-1)/N') replica
///   slots, each taken from the nodes that hold the most of that role ("take from the most
///   loaded", as in Riak's claim algorithm and Dynamo's strategy 3, DeCandia et al. 2007 §6.2).
///   Every changed slot changes TO the new node.
/// - leave: only the leaver's slots change; each goes to the node with the fewest of that role
///   that is not already in the shard's list (water-filling from the bottom).
///
/// Which shard a joiner takes from a donor follows the joiner's virtual nodes: shards nearest
/// clockwise of its points first. Every loop is over shards or nodes, in a fixed order; no
/// `Dictionary` or `Set` iteration decides anything.
struct Assignment {
    let shardCount: Int
    let replication: Int
    /// Working node table; a node that left keeps its index, marked not alive.
    private(set) var names: [String] = []
    private var alive: [Bool] = []
    private var arcs: [VirtualNodes] = []
    /// Per shard, the preference list as indexes into `names`; [0] is the primary.
    private(set) var lists: [[Int]]
    private var led: [Int] = []
    private var replicas: [Int] = []
    private var liveCount = 0

    init(shardCount: Int, replication: Int) {
        self.shardCount = shardCount
        self.replication = replication
        self.lists = Array(repeating: [], count: shardCount)
    }

    init(nodes: [String], lists: [[Int]], shardCount: Int, replication: Int) {
        self.shardCount = shardCount
        self.replication = replication
        self.names = nodes
        self.alive = Array(repeating: true, count: nodes.count)
        self.arcs = nodes.map(VirtualNodes.init(node:))
        self.lists = lists
        self.led = Array(repeating: 0, count: nodes.count)
        self.replicas = Array(repeating: 0, count: nodes.count)
        self.liveCount = nodes.count
        for list in lists {
            for (rank, node) in list.enumerated() {
                if rank == 0 { led[node] += 1 } else { replicas[node] += 1 }
            }
        }
    }

    var liveNames: [String] { names.indices.filter { alive[$0] }.map { names[$0] } }

    private func listLength(nodeCount: Int) -> Int { min(replication, nodeCount) }

    // MARK: join

    mutating func join(_ name: String) {
        let joiner = names.count
        names.append(name)
        alive.append(true)
        arcs.append(VirtualNodes(node: name))
        led.append(0)
        replicas.append(0)
        let oldLength = listLength(nodeCount: liveCount)
        liveCount += 1
        let newLength = listLength(nodeCount: liveCount)
        let preference = preferenceOrder(of: joiner)

        if newLength > oldLength {
            // Fewer nodes than R: every list grows by the joiner, which now holds every shard.
            for shard in 0..<shardCount {
                lists[shard].append(joiner)
                if lists[shard].count == 1 { led[joiner] += 1 } else { replicas[joiner] += 1 }
            }
            take(role: .primary, target: shardCount / liveCount, joiner: joiner, preference: preference)
        } else {
            take(role: .primary, target: shardCount / liveCount, joiner: joiner, preference: preference)
            let replicaSlots = shardCount * (newLength - 1)
            take(role: .replica, target: replicaSlots / liveCount, joiner: joiner, preference: preference)
        }
    }

    private enum Role { case primary, replica }

    private func count(_ role: Role, _ node: Int) -> Int {
        role == .primary ? led[node] : replicas[node]
    }

    /// The joiner takes slots of `role` until it has `target`, from the most loaded nodes first.
    /// Pass k takes from donors holding more than `threshold`, starting at the lowest threshold
    /// whose excess over all donors fits in what the joiner needs; later passes lower it by one.
    private mutating func take(role: Role, target: Int, joiner: Int, preference: [Int]) {
        var need = target - count(role, joiner)
        guard need > 0 else { return }
        let donors = names.indices.filter { alive[$0] && $0 != joiner }
        let highest = donors.map { count(role, $0) }.max() ?? 0
        var threshold = highest
        while threshold > 0 {
            let excess = donors.reduce(0) { $0 + max(0, count(role, $1) - (threshold - 1)) }
            if excess > need { break }
            threshold -= 1
        }
        while need > 0, threshold >= count(role, joiner) {
            for shard in preference where need > 0 {
                guard let rank = donorRank(role: role, shard: shard, joiner: joiner, above: threshold) else {
                    continue
                }
                let donor = lists[shard][rank]
                if let existing = lists[shard].firstIndex(of: joiner) {
                    // Only when lists just grew: the joiner already holds the shard, so the
                    // primary role is swapped and no data moves.
                    // Moved to the front, so the old nodes keep their relative order.
                    lists[shard].remove(at: existing)
                    lists[shard].insert(joiner, at: rank)
                    replicas[donor] += 1
                    replicas[joiner] -= 1
                } else {
                    lists[shard][rank] = joiner
                    if role == .replica { replicas[joiner] += 1 }
                }
                if role == .primary { led[donor] -= 1; led[joiner] += 1 } else { replicas[donor] -= 1 }
                need -= 1
            }
            threshold -= 1
        }
    }

    /// The slot of `shard` the joiner may take: for the primary role slot 0, for the replica role
    /// the replica holder with the most replicas (the later slot on a tie); nil when no donor in
    /// the shard holds more than `above` of the role, or the joiner already holds the shard.
    private func donorRank(role: Role, shard: Int, joiner: Int, above: Int) -> Int? {
        let list = lists[shard]
        switch role {
        case .primary:
            guard let first = list.first, first != joiner, led[first] > above else { return nil }
            return 0
        case .replica:
            guard list.count > 1, !list.contains(joiner) else { return nil }
            var best: Int?
            for rank in 1..<list.count where replicas[list[rank]] > above {
                if let current = best, replicas[list[current]] > replicas[list[rank]] { continue }
                best = rank
            }
            return best
        }
    }

    /// Shards in the order the node claims them: nearest clockwise of its virtual nodes first.
    private func preferenceOrder(of node: Int) -> [Int] {
        let distances = (0..<shardCount).map {
            arcs[node].distance(to: VirtualNodes.position(ofShard: $0, shardCount: shardCount))
        }
        return (0..<shardCount).sorted { (distances[$0], $0) < (distances[$1], $1) }
    }

    // MARK: leave

    mutating func leave(_ name: String) {
        guard let leaver = names.indices.first(where: { alive[$0] && names[$0] == name }) else { return }
        let oldLength = listLength(nodeCount: liveCount)
        alive[leaver] = false
        liveCount -= 1
        let newLength = listLength(nodeCount: liveCount)

        if newLength < oldLength {
            // Fewer nodes than R: lists shrink; a shard the leaver led is led by the remaining
            // holder leading the fewest shards.
            for shard in 0..<shardCount {
                guard let rank = lists[shard].firstIndex(of: leaver) else { continue }
                lists[shard].remove(at: rank)
                guard rank == 0, !lists[shard].isEmpty else { continue }
                let heir = lists[shard].indices.min { a, b in
                    order(lists[shard][a], lists[shard][b], role: .primary, shard: shard)
                } ?? 0
                let node = lists[shard].remove(at: heir)
                lists[shard].insert(node, at: 0)
                led[node] += 1
                replicas[node] -= 1
            }
            return
        }
        // Primary slots first: any live node may lead, a current replica by promotion (its
        // replica slot then falls vacant), so the primaries are water-filled exactly.
        let vacant = -1
        for shard in 0..<shardCount where lists[shard].first == leaver {
            let heir = liveNodes().min { order($0, $1, role: .primary, shard: shard) } ?? leaver
            if let rank = lists[shard].firstIndex(of: heir) {
                lists[shard][rank] = vacant
                replicas[heir] -= 1
            }
            lists[shard][0] = heir
            led[heir] += 1
        }
        // Then the leaver's replica slots and the slots vacated by promotion.
        for shard in 0..<shardCount {
            while let rank = lists[shard].firstIndex(where: { $0 == leaver || $0 == vacant }) {
                let candidates = liveNodes().filter { !lists[shard].contains($0) }
                guard let heir = candidates.min(by: { order($0, $1, role: .replica, shard: shard) }) else {
                    lists[shard].remove(at: rank)
                    continue
                }
                lists[shard][rank] = heir
                replicas[heir] += 1
            }
        }
    }

    private func liveNodes() -> [Int] { names.indices.filter { alive[$0] } }

    /// Who inherits a slot first: fewest of the role, then fewest copies held, then the node
    /// whose virtual node is nearest before the shard (plain consistent hashing), then the name.
    private func order(_ a: Int, _ b: Int, role: Role, shard: Int) -> Bool {
        let position = VirtualNodes.position(ofShard: shard, shardCount: shardCount)
        let keyA = (count(role, a), led[a] + replicas[a], arcs[a].distance(to: position))
        let keyB = (count(role, b), led[b] + replicas[b], arcs[b].distance(to: position))
        if keyA != keyB { return keyA < keyB }
        return names[a] < names[b]
    }
}
