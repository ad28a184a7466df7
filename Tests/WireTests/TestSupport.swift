import Hashing
import Wire


func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

/// One frame of every kind, each with non-trivial header fields where the kind allows them.
let oneFrameOfEachKind: [PeerFrame] = [
    PeerFrame(kind: .hello, payload: [1, 0, 1, 0x61, 1, 0x62] + [UInt8](repeating: 7, count: 32)),
    PeerFrame(kind: .challenge, payload: [1, 0, 1, 0x63] + [UInt8](repeating: 9, count: 32)),
    PeerFrame(kind: .proof, payload: [UInt8](repeating: 0xAB, count: 32)),
    PeerFrame(kind: .welcome, payload: [UInt8](repeating: 0xCD, count: 32)),
    .request(id: 0x0102_0304_0506_0708, operation: 0xBEEF, payload: Array("get".utf8)),
    .response(to: UInt64.max, operation: 0xBEEF, payload: [0, 1, 2], isError: true),
    .oneway(operation: 7, payload: []),
    .ping(id: 42),
    .pong(id: 42),
    PeerGoAway(code: .normal, reason: "shutting down").frame,
]

func encoded(_ frames: [PeerFrame]) throws -> [UInt8] {
    var buffer: [UInt8] = []
    for frame in frames { try PeerFrameEncoder.encode(frame, into: &buffer) }
    return buffer
}

/// Decodes everything available; stops at nil.
func drain(_ decoder: inout PeerFrameDecoder) throws -> [PeerFrame] {
    var frames: [PeerFrame] = []
    while let frame = try decoder.next() { frames.append(frame) }
    return frames
}
