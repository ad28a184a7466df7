import Foundation
import JSON

extension CLI {
    func password() throws(CLIError) -> String {
        if let p = option("--password") { return p }
        if let p = ProcessInfo.processInfo.environment["RELAY_PASSWORD"], !p.isEmpty { return p }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw .usage("no password: give --password, RELAY_PASSWORD or a line on stdin")
        }
        return line
    }

    func signup() throws(CLIError) {
        let user = try word(1, "USER")
        var body: JSONObject = ["user": .string(user), "password": .string(try password())]
        if let name = option("--display-name") { body["display_name"] = .string(name) }
        if let device = option("--device") { body["device"] = .string(device) }
        client.discover()
        let answer = try client.call("POST", "/v1/signup", body, auth: false)
        try signedIn(answer, device: option("--device"))
        print(answer, "signed up as \(user)")
    }

    func login() throws(CLIError) {
        let user = try word(1, "USER")
        var body: JSONObject = ["user": .string(user), "password": .string(try password())]
        if let device = option("--device") { body["device"] = .string(device) }
        client.discover()
        let answer = try client.call("POST", "/v1/login", body, auth: false)
        try signedIn(answer, device: option("--device"))
        print(answer, "signed in as \(user)")
    }

    private func signedIn(_ answer: JSON, device: String?) throws(CLIError) {
        state.user = answer["user"]?.stringValue
        state.token = answer["token"]?.stringValue
        state.device = device ?? "cli"
        client.token = state.token
        try saveState()
    }

    func logout() throws(CLIError) {
        try client.call("POST", "/v1/logout")
        state.token = nil
        state.user = nil
        try saveState()
        print(["logged_out": .bool(true)], "signed out")
    }

    func whoami() throws(CLIError) {
        guard let user = state.user, state.token != nil else { throw .unauthorized("not signed in") }
        let list = try client.call("GET", "/v1/conversations")
        let count = list["conversations"]?.arrayValue?.count ?? 0
        print(["user": .string(user), "node": .string(client.current), "conversations": .int(Int64(count))],
              "\(user) (token valid; \(count) conversations; via \(client.current))")
    }
}
