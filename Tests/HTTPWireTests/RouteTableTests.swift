import HTTPWire
import XCTest

final class RouteTableTests: XCTestCase {
    /// Today's routes plus a few of the issues to come, with names for handlers.
    let table = RouteTable<String>([
        .get("/healthz", "healthz"),
        .get("/v1/conversations", "conversations"),
        .get("/v1/conversations/{id}/messages", "history"),
        .post("/v1/conversations/{id}/receipts", "receipts"),
        .post("/v1/signup", "signup"),
        .put("/v1/groups/{id}/members/{user}/role", "role"),
        .delete("/v1/groups/{id}/members/{user}", "removeMember"),
        .get("/v1/users/{user}", "profile"),
        .patch("/v1/users/me", "updateMe"),
        .get("/", "root"),
    ], alsoAllowed: ["OPTIONS"])

    private func lookup(_ method: String, _ target: String) throws -> RouteTable<String>.Match {
        let request = try HTTPRequest(method: method, target: target, headers: HTTPHeaders([("Host", "h")]))
        return table.lookup(method: request.method, segments: request.pathSegments)
    }

    func testLiteralRoutesMatchTheirMethodAndPath() throws {
        XCTAssertEqual(try lookup("GET", "/healthz"), .found("healthz", PathParameters()))
        XCTAssertEqual(try lookup("POST", "/v1/signup"), .found("signup", PathParameters()))
        XCTAssertEqual(try lookup("GET", "/"), .found("root", PathParameters()))
    }

    func testParametersBindOneSegmentEachInPatternOrder() throws {
        guard case .found(let handler, let parameters) = try lookup("PUT", "/v1/groups/grp:7/members/bob/role") else {
            return XCTFail("no match")
        }
        XCTAssertEqual(handler, "role")
        XCTAssertEqual(parameters, PathParameters([("id", "grp:7"), ("user", "bob")]))
        XCTAssertEqual(parameters.names, ["id", "user"])
        XCTAssertEqual(parameters["user"], "bob")
        XCTAssertEqual(try parameters.value("id"), "grp:7")
    }

    func testAskingForAParameterThePatternLacksThrows() throws {
        guard case .found(_, let parameters) = try lookup("GET", "/v1/conversations/dm:a:b/messages") else {
            return XCTFail("no match")
        }
        XCTAssertNil(parameters["user"])
        XCTAssertThrowsError(try parameters.value("user")) { error in
            XCTAssertEqual((error as? MissingPathParameter)?.name, "user")
            XCTAssertEqual((error as? MissingPathParameter)?.bound, ["id"])
        }
    }

    func testPercentEncodedSegmentsArriveDecodedAndAnEncodedSlashStaysInItsParameter() throws {
        XCTAssertEqual(try lookup("GET", "/v1/conversations/dm%3Aal%20ice%2Fx/messages"),
                       .found("history", PathParameters([("id", "dm:al ice/x")])))
        // Literal segments compare decoded too.
        XCTAssertEqual(try lookup("GET", "/v1/%63onversations"), .found("conversations", PathParameters()))
    }

    func testTrailingAndDoubledSlashesDoNotChangeTheMatch() throws {
        XCTAssertEqual(try lookup("GET", "/v1/conversations/"), .found("conversations", PathParameters()))
        XCTAssertEqual(try lookup("GET", "//v1//conversations//"), .found("conversations", PathParameters()))
        // An empty id is no id: "/v1/conversations//messages" is the two-segment-shorter path.
        XCTAssertEqual(try lookup("GET", "/v1/conversations//messages"), .notFound)
    }

    func testAParameterNeverMatchesAnEmptySegment() {
        XCTAssertEqual(table.lookup(method: "GET", segments: ["v1", "users", ""]), .notFound)
    }

    func testUnknownPathsAreNotFoundWhateverTheMethod() throws {
        XCTAssertEqual(try lookup("GET", "/v1/nope"), .notFound)
        XCTAssertEqual(try lookup("POST", "/v1/conversations/x/nope"), .notFound)
        XCTAssertEqual(try lookup("GET", "/v1/conversations/x/messages/extra"), .notFound)
        XCTAssertEqual(try lookup("DELETE", "/v2/conversations"), .notFound)
    }

    func testAKnownPathWithAnotherMethodIsNotAllowedWithTheSortedAllowList() throws {
        XCTAssertEqual(try lookup("POST", "/healthz"), .methodNotAllowed(allow: ["GET", "HEAD", "OPTIONS"]))
        XCTAssertEqual(try lookup("GET", "/v1/signup"), .methodNotAllowed(allow: ["OPTIONS", "POST"]))
        XCTAssertEqual(try lookup("HEAD", "/v1/signup"), .methodNotAllowed(allow: ["OPTIONS", "POST"]))
        XCTAssertEqual(try lookup("POST", "/v1/conversations/x/messages"), .methodNotAllowed(allow: ["GET", "HEAD", "OPTIONS"]))
        XCTAssertEqual(try lookup("GET", "/v1/conversations/x/receipts"), .methodNotAllowed(allow: ["OPTIONS", "POST"]))
        XCTAssertEqual(try lookup("GET", "/v1/groups/g/members/u"), .methodNotAllowed(allow: ["DELETE", "OPTIONS"]))
    }

    func testTheAllowListGathersEveryRouteThatMatchesThePath() throws {
        // "/v1/users/me" is matched by GET /v1/users/{user} and PATCH /v1/users/me.
        XCTAssertEqual(try lookup("DELETE", "/v1/users/me"), .methodNotAllowed(allow: ["GET", "HEAD", "OPTIONS", "PATCH"]))
        XCTAssertEqual(try lookup("PATCH", "/v1/users/bob"), .methodNotAllowed(allow: ["GET", "HEAD", "OPTIONS"]))
    }

    func testHeadIsServedByTheGetRoute() throws {
        XCTAssertEqual(try lookup("HEAD", "/healthz"), .found("healthz", PathParameters()))
        XCTAssertEqual(try lookup("HEAD", "/v1/conversations/c/messages"), .found("history", PathParameters([("id", "c")])))
    }

    func testALiteralSegmentWinsOverAParameterWhateverTheTableOrder() {
        for routes: [Route<String>] in [
            [.get("/v1/users/{user}", "profile"), .get("/v1/users/me", "me")],
            [.get("/v1/users/me", "me"), .get("/v1/users/{user}", "profile")],
        ] {
            let table = RouteTable(routes)
            XCTAssertEqual(table.lookup(method: "GET", segments: ["v1", "users", "me"]), .found("me", PathParameters()))
            XCTAssertEqual(table.lookup(method: "GET", segments: ["v1", "users", "bob"]), .found("profile", PathParameters([("user", "bob")])))
        }
    }

    func testTheLeftmostDifferenceDecidesPrecedence() {
        for routes: [Route<String>] in [
            [.get("/a/{x}/c", "literal-first"), .get("/{y}/b/c", "parameter-first")],
            [.get("/{y}/b/c", "parameter-first"), .get("/a/{x}/c", "literal-first")],
        ] {
            let table = RouteTable(routes)
            XCTAssertEqual(table.lookup(method: "GET", segments: ["a", "b", "c"]), .found("literal-first", PathParameters([("x", "b")])))
            XCTAssertEqual(table.lookup(method: "GET", segments: ["z", "b", "c"]), .found("parameter-first", PathParameters([("y", "z")])))
        }
    }

    func testALiteralRouteOfAnotherMethodDoesNotHideAParameterRouteOfTheRequestsMethod() throws {
        XCTAssertEqual(try lookup("GET", "/v1/users/me"), .found("profile", PathParameters([("user", "me")])))
        XCTAssertEqual(try lookup("PATCH", "/v1/users/me"), .found("updateMe", PathParameters()))
    }

    func testWithoutAlsoAllowedTheAllowListIsTheRoutesAlone() {
        let table = RouteTable([Route.post("/x", "x")])
        XCTAssertEqual(table.lookup(method: "GET", segments: ["x"]), .methodNotAllowed(allow: ["POST"]))
    }

    func testPatternsPrintAsWritten() {
        XCTAssertEqual(PathPattern("/v1/groups/{id}/members/{user}/role").description, "/v1/groups/{id}/members/{user}/role")
        XCTAssertEqual(PathPattern("/").description, "/")
        XCTAssertEqual(PathPattern("/v1/groups/{id}").segments, [.literal("v1"), .literal("groups"), .parameter("id")])
    }

    func testATableWithTwoRoutesOfOneMethodAndShapeIsRefused() {
        XCTAssertEqual(RouteTable.mistakes(in: table.routes, alsoAllowed: ["OPTIONS"]), [])
        let routes: [Route<String>] = [
            .get("/v1/groups/{id}", "a"), .patch("/v1/groups/{id}", "b"), .get("/v1/groups/{group}", "c"),
            .get("/v1/groups/mine", "d"), .post("/v1/groups/{id}", "e"), .post("/v1/groups/{id}", "f"),
        ]
        XCTAssertEqual(RouteTable.mistakes(in: routes), [
            "GET /v1/groups/{group} matches what GET /v1/groups/{id} does",
            "POST /v1/groups/{id} matches what POST /v1/groups/{id} does",
        ])
    }

    func testHeadTheCallersOwnMethodsAndUnknownMethodsCannotBeRouted() {
        let routes: [Route<String>] = [Route("HEAD", "/a", "a"), Route("OPTIONS", "/b", "b"), Route("TRACE", "/c", "c"), .put("/d", "d")]
        XCTAssertEqual(RouteTable.mistakes(in: routes, alsoAllowed: ["OPTIONS"]), [
            "HEAD /a: no route may take HEAD", "OPTIONS /b: no route may take OPTIONS", "TRACE /c: no route may take TRACE",
        ])
    }
}
