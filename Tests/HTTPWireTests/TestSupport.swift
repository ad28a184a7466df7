import Hashing
import HTTPWire
import XCTest

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Every request the parser returns for `input` fed at once, or the error it throws.
func parseRequests(_ input: [UInt8], limits: HTTPLimits = .default) -> Result<[HTTPRequest], HTTPParseError> {
    var parser = HTTPRequestParser(limits: limits)
    parser.feed(input)
    var requests: [HTTPRequest] = []
    do {
        while let request = try parser.next() { requests.append(request) }
    } catch {
        return .failure(error)
    }
    return .success(requests)
}

/// The status `input` is rejected with, nil if it parses.
func rejectionStatus(_ text: String, limits: HTTPLimits = .default, file: StaticString = #filePath, line: UInt = #line) -> Int? {
    switch parseRequests(bytes(text), limits: limits) {
    case .success: return nil
    case .failure(let error): return error.status
    }
}

/// Every message the reader returns for `input`, or the error it throws.
func readMessages(_ input: [UInt8], role: WebSocketReader.Role = .client,
                  limits: WebSocketLimits = .default) -> Result<[WebSocketMessage], WebSocketError> {
    var reader = WebSocketReader(limits: limits, role: role)
    reader.feed(input)
    var messages: [WebSocketMessage] = []
    do {
        while let message = try reader.next() { messages.append(message) }
    } catch {
        return .failure(error)
    }
    return .success(messages)
}

func closeCode(_ input: [UInt8], role: WebSocketReader.Role = .client, limits: WebSocketLimits = .default) -> UInt16? {
    if case .failure(let error) = readMessages(input, role: role, limits: limits) { return error.closeCode }
    return nil
}


/// Applies 1-4 random edits (flip, insert, delete, duplicate a run, truncate) to `input`.
func mutate(_ input: [UInt8], using rng: inout SplitMix64, interesting: [UInt8]) -> [UInt8] {
    var out = input
    for _ in 0..<Int.random(in: 1...4, using: &rng) {
        let position = out.isEmpty ? 0 : Int.random(in: 0..<out.count, using: &rng)
        switch Int.random(in: 0..<6, using: &rng) {
        case 0 where !out.isEmpty: out[position] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
        case 1: out.insert(interesting.randomElement(using: &rng) ?? 0, at: position)
        case 2 where !out.isEmpty: out.remove(at: position)
        case 3 where !out.isEmpty:
            let end = min(out.count, position + Int.random(in: 1...16, using: &rng))
            out.insert(contentsOf: out[position..<end], at: position)
        case 4: out = Array(out.prefix(position))
        default: out.insert(UInt8.random(in: 0...255, using: &rng), at: position)
        }
    }
    return out
}
