/// Compact serialization: no whitespace, object keys in insertion order, valid UTF-8.
///
/// Iterative like the parser, so a deeply nested value built in code cannot exhaust the stack.
extension JSON {
    public func serialized() -> String {
        var buffer: [UInt8] = []
        serialize(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Appends the UTF-8 text of this value to `buffer`.
    public func serialize(into buffer: inout [UInt8]) {
        var stack: [SerializingContainer] = []
        Self.write(self, into: &buffer, stack: &stack)
        while let container = stack.popLast() {
            switch consume container {
            case .array(var elements, let wroteAny):
                guard let element = elements.next() else {
                    buffer.append(ASCII.closeBracket)
                    continue
                }
                if wroteAny { buffer.append(ASCII.comma) }
                stack.append(.array(elements, wroteAny: true))
                Self.write(element, into: &buffer, stack: &stack)
            case .object(var members, let wroteAny):
                guard let member = members.next() else {
                    buffer.append(ASCII.closeBrace)
                    continue
                }
                if wroteAny { buffer.append(ASCII.comma) }
                Self.writeString(member.key, into: &buffer)
                buffer.append(ASCII.colon)
                stack.append(.object(members, wroteAny: true))
                Self.write(member.value, into: &buffer, stack: &stack)
            }
        }
    }

    /// A container whose elements are still being written.
    private enum SerializingContainer {
        case array(IndexingIterator<[JSON]>, wroteAny: Bool)
        case object(IndexingIterator<[JSONObject.Element]>, wroteAny: Bool)
    }

    /// Writes a scalar, or the opening bracket of a container and pushes it.
    private static func write(_ value: JSON, into buffer: inout [UInt8], stack: inout [SerializingContainer]) {
        switch value {
        case .null: buffer.append(contentsOf: "null".utf8)
        case .bool(let flag): buffer.append(contentsOf: (flag ? "true" : "false").utf8)
        case .int(let number): writeInteger(number, into: &buffer)
        case .double(let number):
            // RFC 8259 §6: NaN and Infinity are not permitted; `null` is what browsers write.
            // `description` is the shortest text that round-trips, always in JSON's grammar
            // ("1.0", "1e-07", "1e+16").
            if number.isFinite {
                buffer.append(contentsOf: number.description.utf8)
            } else {
                buffer.append(contentsOf: "null".utf8)
            }
        case .string(let text): writeString(text, into: &buffer)
        case .array(let elements):
            buffer.append(ASCII.openBracket)
            stack.append(.array(elements.makeIterator(), wroteAny: false))
        case .object(let object):
            buffer.append(ASCII.openBrace)
            stack.append(.object(object.makeIterator(), wroteAny: false))
        }
    }

    private static func writeInteger(_ number: Int64, into buffer: inout [UInt8]) {
        // Up to 15 characters fit a small String inline, so this does not allocate for the
        // numbers the protocol carries (sequence numbers, millisecond timestamps).
        buffer.append(contentsOf: String(number).utf8)
    }

    /// RFC 8259 §7: `"`, `\` and the control characters U+0000-001F must be escaped.
    private static func writeString(_ text: String, into buffer: inout [UInt8]) {
        buffer.append(ASCII.quote)
        var text = text
        text.withUTF8 { bytes in
            var runStart = 0
            for position in 0..<bytes.count {
                let byte = bytes[position]
                guard byte < ASCII.firstUnescapedByte || byte == ASCII.quote || byte == ASCII.backslash else {
                    continue
                }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<position]))
                appendEscape(for: byte, into: &buffer)
                runStart = position + 1
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        }
        buffer.append(ASCII.quote)
    }

    private static func appendEscape(for byte: UInt8, into buffer: inout [UInt8]) {
        buffer.append(ASCII.backslash)
        switch byte {
        case ASCII.quote, ASCII.backslash: buffer.append(byte)
        case ASCII.lineFeed: buffer.append(ASCII.lowerN)
        case ASCII.carriageReturn: buffer.append(ASCII.lowerR)
        case ASCII.tab: buffer.append(ASCII.lowerT)
        case 0x08: buffer.append(ASCII.lowerB)
        case 0x0C: buffer.append(ASCII.lowerF)
        default:
            let hexDigits: StaticString = "0123456789abcdef"
            buffer.append(contentsOf: "u00".utf8)
            buffer.append(hexDigits.utf8Start[Int(byte >> 4)])
            buffer.append(hexDigits.utf8Start[Int(byte & 0x0F)])
        }
    }
}
