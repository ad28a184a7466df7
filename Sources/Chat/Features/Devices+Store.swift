import Store

// The SQL of devices and per-device cursors (Devices.swift); tables in migration 10.

struct DeviceRow: Equatable {
    var node: String
    var online: Bool
    var firstSeen: Int64
    var lastSeen: Int64
}

extension ShardStore {
    // MARK: On the user's shard

    func deviceRow(user: String, device: String) throws(StoreError) -> DeviceRow? {
        try db.queryOne("SELECT node, online, first_seen, last_seen FROM devices WHERE user=? AND device=?", .text(user), .text(device))
            .map { DeviceRow(node: $0.text(0) ?? "", online: ($0.int(1) ?? 0) != 0, firstSeen: $0.int(2) ?? 0, lastSeen: $0.int(3) ?? 0) }
    }

    func setDevice(user: String, device: String, node: String, online: Bool, firstSeen: Int64, lastSeen: Int64) throws(StoreError) {
        try write("""
            INSERT INTO devices(user, device, node, online, first_seen, last_seen) VALUES(?,?,?,?,?,?)
            ON CONFLICT(user, device) DO UPDATE SET node=excluded.node, online=excluded.online, last_seen=excluded.last_seen
            """, .text(user), .text(device), .text(node), .int(online ? 1 : 0), .int(firstSeen), .int(lastSeen))
    }

    func deviceCount(user: String) throws(StoreError) -> Int {
        Int(try db.queryOne("SELECT count(*) FROM devices WHERE user=?", .text(user))?.int(0) ?? 0)
    }

    func oldestOfflineDevice(user: String) throws(StoreError) -> String? {
        try db.queryOne("SELECT device FROM devices WHERE user=? AND online=0 ORDER BY last_seen, device LIMIT 1", .text(user))?.text(0)
    }

    func deleteDeviceRow(user: String, device: String) throws(StoreError) {
        try write("DELETE FROM devices WHERE user=? AND device=?", .text(user), .text(device))
    }

    func deleteDevice(user: String, device: String) throws(StoreError) {
        try write("DELETE FROM devices WHERE user=? AND device=?", .text(user), .text(device))
        try write("DELETE FROM sessions WHERE user=? AND device=?", .text(user), .text(device))
    }

    func sessionHashes(user: String, device: String) throws(StoreError) -> [[UInt8]] {
        try db.query("SELECT token_hash FROM sessions WHERE user=? AND device=? ORDER BY token_hash", .text(user), .text(device))
            .compactMap { $0.blob(0) }
    }

    /// Devices that connected, and those with sessions only (offline, last seen at their
    /// newest login), by name.
    func devices(user: String) throws(StoreError) -> [DeviceInfo] {
        var byName: [String: DeviceInfo] = [:]
        for row in try db.query("SELECT device, max(created_at) FROM sessions WHERE user=? GROUP BY device", .text(user)) {
            let name = row.text(0) ?? ""
            byName[name] = DeviceInfo(device: name, node: "", online: false, lastSeen: row.int(1) ?? 0)
        }
        for row in try db.query("SELECT device, node, online, last_seen FROM devices WHERE user=?", .text(user)) {
            let name = row.text(0) ?? ""
            byName[name] = DeviceInfo(device: name, node: row.text(1) ?? "", online: (row.int(2) ?? 0) != 0,
                                      lastSeen: max(row.int(3) ?? 0, byName[name]?.lastSeen ?? 0))
        }
        let all = byName.values.sorted { $0.device < $1.device }
        guard all.count > DeviceLimits.maxListed else { return all }
        let kept = Set(all.sorted { ($0.lastSeen, $1.device) > ($1.lastSeen, $0.device) }.prefix(DeviceLimits.maxListed).map(\.device))
        return all.filter { kept.contains($0.device) }
    }

    // MARK: On the conversation's shard

    func deviceCursor(conversationID: String, user: String, device: String) throws(StoreError) -> Int64? {
        try db.queryOne("SELECT delivered FROM device_cursors WHERE conversation_id=? AND user=? AND device=?",
                        .text(conversationID), .text(user), .text(device))?.int(0)
    }

    func setDeviceCursor(conversationID: String, user: String, device: String, delivered: Int64) throws(StoreError) {
        try write("""
            INSERT INTO device_cursors(conversation_id, user, device, delivered) VALUES(?,?,?,?)
            ON CONFLICT(conversation_id, user, device) DO UPDATE SET delivered=excluded.delivered
            """, .text(conversationID), .text(user), .text(device), .int(delivered))
    }
}
