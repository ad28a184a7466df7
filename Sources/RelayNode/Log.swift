import Foundation

/// One line per event on stderr: time, node, level, message.
struct Log {
    let node: String
    var verbose = false

    func info(_ message: @autoclosure () -> String) { write("info", message()) }
    func warn(_ message: @autoclosure () -> String) { write("warn", message()) }
    func error(_ message: @autoclosure () -> String) { write("error", message()) }
    func debug(_ message: @autoclosure () -> String) { if verbose { write("debug", message()) } }

    private func write(_ level: String, _ message: String) {
        let ms = Int64(Date().timeIntervalSince1970 * 1000)
        FileHandle.standardError.write(Data("\(ms) \(node) \(level) \(message)\n".utf8))
    }
}
