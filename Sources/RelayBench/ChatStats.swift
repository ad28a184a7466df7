/// What all pairs of a chat run add up to. Shared by the pairs (one loop thread), so the
/// histograms exist once rather than per pair.
final class ChatStats {
    var ackLatency = LatencyHistogram()
    /// The warm-up messages' acks (each one opens its direct chat), kept apart.
    var warmupAckLatency = LatencyHistogram()
    /// Acks and deliveries of measured (not warm-up) messages: the rates count these.
    var measuredAcks = 0
    var measuredDeliveries = 0
    var deliveryLatency = LatencyHistogram()
    var sent = 0
    var retries = 0
    var acked = 0
    var delivered = 0
    var duplicateDeliveries = 0
    var duplicateAcks = 0
    /// Deliveries whose seq was not the previous one plus one.
    var seqGaps = 0
    /// Messages refused with a non-retryable error, by code.
    var errors: [String: Int] = [:]
    /// Events other than ack and message, by type and side ("sender hello").
    var otherEvents: [String: Int] = [:]
    /// Frames the bench could not make sense of (not JSON, unknown client_id, wrong sender).
    var unexpected = 0
    var disconnects = 0
    var firstDisconnect: String?
    var firstSendMicros: UInt64 = 0
    var lastAckMicros: UInt64 = 0
    var lastDeliveryMicros: UInt64 = 0
    /// The slowest ack: which message (pair, index) and when it was sent, to tell a one-off
    /// stall (a checkpoint, a descheduled process) from a steady tail.
    var slowestAck: (micros: UInt64, pair: String, index: Int, sentMicros: UInt64)?
}
