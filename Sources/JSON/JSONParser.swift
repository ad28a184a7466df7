/// The RFC 8259 grammar over a byte buffer, driven by an explicit stack instead of recursion so
/// that nesting depth costs heap (bounded by `JSONLimits.maxDepth`), never call stack.
///
/// Strings live in `JSONParser+Strings.swift`, numbers in `JSONParser+Numbers.swift`.
struct JSONParser {
    let input: UnsafeBufferPointer<UInt8>
    let limits: JSONLimits
    /// Byte offset of the next unread byte.
    var offset = 0
    /// Values seen so far, checked against `limits.maxMembers`.
    var valueCount = 0
    /// Reused buffer for strings that contain escapes, so each such string costs one copy.
    var scratch: [UInt8] = []

    init(input: UnsafeBufferPointer<UInt8>, limits: JSONLimits) {
        self.input = input
        self.limits = limits
    }

    /// A container whose closing bracket has not been read yet.
    private enum OpenContainer {
        case array([JSON])
        /// The key whose value is being parsed.
        case object(JSONObject, pendingKey: String)
    }

    /// RFC 8259 §2: `JSON-text = ws value ws`.
    mutating func parseDocument() throws(JSONError) -> JSON {
        guard input.count <= limits.maxBytes else {
            throw JSONError(offset: max(limits.maxBytes, 0), reason: JSONError.Reason.tooLarge)
        }
        var stack: [OpenContainer] = []
        var value: JSON
        parsing: while true {
            // Read one value; an opening bracket instead pushes a container and loops for its
            // first element.
            skipWhitespace()
            guard offset < input.count else { throw endOfInput() }
            try countValue()
            switch input[offset] {
            case ASCII.openBrace:
                try checkDepth(stack.count)
                offset += 1
                skipWhitespace()
                if offset < input.count, input[offset] == ASCII.closeBrace {
                    offset += 1
                    value = .object(JSONObject())
                } else {
                    let key = try parseKey()
                    stack.append(.object(JSONObject(), pendingKey: key))
                    continue parsing
                }
            case ASCII.openBracket:
                try checkDepth(stack.count)
                offset += 1
                skipWhitespace()
                if offset < input.count, input[offset] == ASCII.closeBracket {
                    offset += 1
                    value = .array([])
                } else {
                    stack.append(.array([]))
                    continue parsing
                }
            case ASCII.quote:
                value = .string(try parseString())
            case ASCII.lowerT:
                try expectLiteral("true")
                value = .bool(true)
            case ASCII.lowerF:
                try expectLiteral("false")
                value = .bool(false)
            case ASCII.lowerN:
                try expectLiteral("null")
                value = .null
            case ASCII.minus, ASCII.zero...ASCII.nine:
                value = try parseNumber()
            default:
                throw JSONError(offset: offset, reason: JSONError.Reason.unexpectedCharacter)
            }

            // Hand the value to its container; each closing bracket completes another value.
            while let container = stack.popLast() {
                skipWhitespace()
                guard offset < input.count else { throw endOfInput() }
                let separator = input[offset]
                switch consume container {
                case .array(var elements):
                    elements.append(value)
                    if separator == ASCII.comma {
                        offset += 1
                        stack.append(.array(elements))
                        continue parsing
                    }
                    guard separator == ASCII.closeBracket else {
                        throw JSONError(offset: offset, reason: JSONError.Reason.expectedCommaOrBracket)
                    }
                    offset += 1
                    value = .array(elements)
                case .object(var object, let key):
                    // Duplicate keys (RFC 8259 §4 leaves them to the implementation): the last
                    // value wins, kept at the position where the key first appeared.
                    object[key] = value
                    if separator == ASCII.comma {
                        offset += 1
                        skipWhitespace()
                        let nextKey = try parseKey()
                        stack.append(.object(object, pendingKey: nextKey))
                        continue parsing
                    }
                    guard separator == ASCII.closeBrace else {
                        throw JSONError(offset: offset, reason: JSONError.Reason.expectedCommaOrBrace)
                    }
                    offset += 1
                    value = .object(object)
                }
            }

            skipWhitespace()
            guard offset == input.count else {
                throw JSONError(offset: offset, reason: JSONError.Reason.trailingCharacters)
            }
            return value
        }
    }

    /// `member = string name-separator value`: reads the key and the colon.
    private mutating func parseKey() throws(JSONError) -> String {
        guard offset < input.count else { throw endOfInput() }
        guard input[offset] == ASCII.quote else {
            throw JSONError(offset: offset, reason: JSONError.Reason.expectedKey)
        }
        let key = try parseString()
        skipWhitespace()
        guard offset < input.count else { throw endOfInput() }
        guard input[offset] == ASCII.colon else {
            throw JSONError(offset: offset, reason: JSONError.Reason.expectedColon)
        }
        offset += 1
        return key
    }

    /// RFC 8259 §2: `ws = *( %x20 / %x09 / %x0A / %x0D )`.
    mutating func skipWhitespace() {
        while offset < input.count {
            switch input[offset] {
            case ASCII.space, ASCII.tab, ASCII.lineFeed, ASCII.carriageReturn: offset += 1
            default: return
            }
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let start = offset
        for index in 0..<literal.utf8CodeUnitCount {
            let position = start + index
            guard position < input.count else { throw endOfInput() }
            guard input[position] == literal.utf8Start[index] else {
                throw JSONError(offset: position, reason: JSONError.Reason.invalidLiteral)
            }
        }
        offset = start + literal.utf8CodeUnitCount
    }

    private func checkDepth(_ openContainers: Int) throws(JSONError) {
        guard openContainers < limits.maxDepth else {
            throw JSONError(offset: offset, reason: JSONError.Reason.tooDeep)
        }
    }

    private mutating func countValue() throws(JSONError) {
        valueCount += 1
        guard valueCount <= limits.maxMembers else {
            throw JSONError(offset: offset, reason: JSONError.Reason.tooManyValues)
        }
    }

    func endOfInput() -> JSONError {
        JSONError(offset: input.count, reason: JSONError.Reason.unexpectedEnd)
    }
}
