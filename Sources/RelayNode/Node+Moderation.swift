import Chat

extension Node {
    /// Every `BlockLimits.pruneIntervalMs`, each shard this node leads drops moderation log
    /// entries older than the cluster's `moderation_log_days`, a bounded batch per shard
    /// (`BlockLimits.prunePerRound`); the deletions are replicated like any write. Reads
    /// hide older entries too, so an entry past its age is never shown while it waits.
    func scheduleModerationPrune() {
        loop.schedule(afterMs: BlockLimits.pruneIntervalMs) { [weak self] in
            guard let self else { return }
            let before = loop.nowMs - config.moderationLogRetentionMs
            for shard in files.shardsOnDisk() where cluster.replicator.serves(shard) {
                _ = try? files.store(shard).pruneModerationLog(before: before)
            }
            scheduleModerationPrune()
        }
    }
}
