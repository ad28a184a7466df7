import Hashing

/// Bytes of an ASCII/UTF-8 string.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Lowercase hex of a digest, for comparing with published vectors.
func hex(_ data: [UInt8]) -> String { Hex.encode(data) }
