import Foundation

// `relay`: the command-line client (CLI.swift has the usage; docs/CLI.md the details).
do throws(CLIError) {
    let cli = try CLI(Array(CommandLine.arguments.dropFirst()))
    try cli.run()
    exit(0)
} catch {
    FileHandle.standardError.write(Data(("relay: " + error.message + "\n").utf8))
    exit(error.exitCode)
}
