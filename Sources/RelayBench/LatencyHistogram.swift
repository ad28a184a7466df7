/// A log-bucketed latency histogram in the manner of HdrHistogram: values below
/// `exactBelow` get a bucket each; above, every power-of-two range is split into
/// `subBuckets` equal buckets, so a reported percentile is within 1/64 (1.6 %) of the true
/// value at any magnitude, in a fixed 30 KiB of counters, whatever the number of samples.
///
/// Pure: values come in as microseconds (or any unit); nothing here reads a clock.
struct LatencyHistogram: Sendable {
    /// Buckets per power of two once values leave the exact range: 64 gives 1.6 % resolution.
    static let subBuckets = 64
    /// Values under 2 * subBuckets are counted exactly.
    static let exactBelow: UInt64 = 128
    /// Enough buckets for any UInt64: a value with bit 63 set has shift 57, so the last
    /// bucket is 64 * 57 + 127.
    static let bucketCount = 57 * subBuckets + 2 * subBuckets

    private var counts = [UInt64](repeating: 0, count: LatencyHistogram.bucketCount)
    private(set) var count: UInt64 = 0
    private(set) var min: UInt64 = .max
    private(set) var max: UInt64 = 0
    private(set) var sum: UInt64 = 0

    mutating func record(_ value: UInt64) {
        counts[Self.bucket(of: value)] += 1
        count += 1
        sum &+= value
        if value < min { min = value }
        if value > max { max = value }
    }

    mutating func merge(_ other: LatencyHistogram) {
        for index in 0..<counts.count { counts[index] += other.counts[index] }
        count += other.count
        sum &+= other.sum
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
    }

    var mean: Double { count == 0 ? 0 : Double(sum) / Double(count) }

    /// The value at or below which `percent` of the samples lie: the top of the bucket that
    /// holds the sample of that rank (never above the true maximum). 0 when empty.
    func percentile(_ percent: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let clamped = Swift.min(100, Swift.max(0, percent))
        let rank = Swift.max(1, UInt64((clamped / 100 * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, bucketCount) in counts.enumerated() where bucketCount > 0 {
            seen += bucketCount
            if seen >= rank { return Swift.min(Self.upperBound(of: index), max) }
        }
        return max
    }

    static func bucket(of value: UInt64) -> Int {
        if value < exactBelow { return Int(value) }
        let topBit = 63 - value.leadingZeroBitCount          // >= 7
        let shift = topBit - 6                                // value >> shift is in 64..<128
        return subBuckets * shift + Int(value >> UInt64(shift))
    }

    /// The largest value that lands in bucket `index`.
    static func upperBound(of index: Int) -> UInt64 {
        if index < Int(exactBelow) { return UInt64(index) }
        let shift = index / subBuckets - 1
        let mantissa = UInt64(index - subBuckets * shift)
        // mantissa + 1 may be 128 at shift 57: 2^64 - 1 then, computed without overflow.
        let top = (mantissa + 1).multipliedReportingOverflow(by: UInt64(1) << UInt64(shift))
        return top.overflow ? .max : top.partialValue - 1
    }
}
