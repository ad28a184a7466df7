/// Why `WireReader` could not read a value: the payload was shorter than its encoding says,
/// a length went past its bound, or a string was not UTF-8. Each is a value the layer above
/// maps to one protocol error; none traps.
public enum WireError: Error, Equatable, Sendable {
    /// A read needed `needed` more bytes but only `available` were left.
    case truncated(needed: Int, available: Int)
    /// A length prefix announced `length` bytes, more than the `max` the caller allows.
    case lengthTooLarge(length: UInt64, max: Int)
    /// A string's bytes were not valid UTF-8.
    case invalidUTF8
    /// A varint ran past 10 bytes or past 64 bits.
    case varintOverflow
    /// `expectEnd()` found bytes left over after the last field.
    case trailingBytes(count: Int)
}
