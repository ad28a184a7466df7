import Glibc
import XCTest
@testable import Net

final class TCPConnectionTests: XCTestCase {
    private let host = "127.0.0.1"

    func testEchoRoundTrip() throws {
        let loop = try makeLoop()
        let listener = try loop.listenTCP(host: host, port: 0) { connection in
            connection.onRead = { connection.write(Array($0)) }
        }
        XCTAssertGreaterThan(listener.port, 0)
        let message = Array("hello, relay".utf8)
        var echoed: [UInt8] = []
        var connectError: NetError?
        loop.connectTCP(host: host, port: listener.port) { result in
            switch result {
            case .failure(let error):
                connectError = error
                loop.stop()
            case .success(let client):
                XCTAssertEqual(client.remoteAddress, "127.0.0.1:\(listener.port)")
                client.onRead = { bytes in
                    echoed += bytes
                    if echoed.count >= message.count { loop.stop() }
                }
                client.write(message)
            }
        }
        runLoop(loop)
        XCTAssertNil(connectError)
        XCTAssertEqual(echoed, message)
    }

    func testTenMegabytesThroughASlowReaderArriveIntactAndDrainOnce() throws {
        let loop = try makeLoop()
        let chunkBytes = 64 * 1024
        let chunks = 160  // 10 MiB
        let expected = patternBytes(count: chunkBytes * chunks)
        var pendingAfterWrites = 0
        var drains = 0
        var pendingAtDrain = -1
        var server: TCPConnection?
        let listener = try loop.listenTCP(host: host, port: 0) { connection in
            server = connection
            for chunk in 0..<chunks {
                connection.write(Array(expected[chunk * chunkBytes..<(chunk + 1) * chunkBytes]))
            }
            pendingAfterWrites = connection.pendingWriteBytes
            connection.onDrain = {
                drains += 1
                pendingAtDrain = connection.pendingWriteBytes
                connection.close()
            }
        }
        var received = 0
        var intact = true
        var pauses = 0
        var closeError: NetError?? = .none
        loop.connectTCP(host: host, port: listener.port) { result in
            guard case .success(let client) = result else { return XCTFail("connect: \(result)") }
            client.onRead = { bytes in
                intact = intact && received + bytes.count <= expected.count
                    && expected[received..<received + bytes.count].elementsEqual(bytes)
                let before = received / (1 << 20)
                received += bytes.count
                if received / (1 << 20) != before {
                    // A slow reader: stop at every MiB, resume a millisecond later.
                    pauses += 1
                    client.pauseReading()
                    loop.schedule(afterMs: 1) { client.resumeReading() }
                }
            }
            client.onClose = { error in
                closeError = .some(error)
                loop.stop()
            }
        }
        runLoop(loop, timeoutMs: 10_000)
        XCTAssertEqual(received, expected.count)
        XCTAssertTrue(intact, "bytes lost, duplicated or reordered")
        XCTAssertGreaterThan(pendingAfterWrites, expected.count / 2, "the kernel took most of 10 MiB at once?")
        XCTAssertEqual(drains, 1)
        XCTAssertEqual(pendingAtDrain, 0)
        XCTAssertGreaterThanOrEqual(pauses, 9)
        XCTAssertEqual(closeError, .some(nil), "the server's orderly close should read as EOF")
        XCTAssertFalse(server?.isOpen ?? true)
    }

    func testCloseGivesUpFlushingToAPeerThatNeverReads() throws {
        let loop = try makeLoop()
        var serverClose: NetError?? = .none
        var closeCalledAt: Int64 = 0
        var closedAfterMs: Int64 = -1
        let listener = try loop.listenTCP(host: host, port: 0) { connection in
            connection.closeFlushTimeoutMs = 50
            connection.write([UInt8](repeating: 1, count: 8 << 20))
            XCTAssertGreaterThan(connection.pendingWriteBytes, 0)
            connection.onClose = { error in
                serverClose = .some(error)
                closedAfterMs = loop.monotonicMs - closeCalledAt
                loop.stop()
            }
            closeCalledAt = loop.monotonicMs
            connection.close()
        }
        var client: TCPConnection?
        loop.connectTCP(host: host, port: listener.port) { result in
            client = try? result.get()
            client?.pauseReading()
        }
        runLoop(loop)
        XCTAssertEqual(serverClose??.errno, ETIMEDOUT)
        XCTAssertGreaterThanOrEqual(closedAfterMs, 50)
        client?.abort()
    }

    func testPeerCloseCallsOnCloseExactlyOnce() throws {
        let loop = try makeLoop()
        var serverCloses: [NetError?] = []
        var clientCloses = 0
        let listener = try loop.listenTCP(host: host, port: 0) { connection in
            connection.onClose = { error in
                serverCloses.append(error)
                XCTAssertFalse(connection.isOpen)
                // Give a duplicate callback a few turns to show up before stopping.
                loop.schedule(afterMs: 20) { loop.stop() }
            }
        }
        loop.connectTCP(host: host, port: listener.port) { result in
            guard case .success(let client) = result else { return XCTFail("connect: \(result)") }
            client.onClose = { _ in clientCloses += 1 }
            client.close()
            XCTAssertFalse(client.isOpen)
            client.write([1, 2, 3])  // ignored once closed
            client.close()           // idempotent
            client.abort()
        }
        runLoop(loop)
        XCTAssertEqual(serverCloses.count, 1)
        XCTAssertNil(serverCloses.first ?? nil)
        XCTAssertEqual(clientCloses, 1)
    }

    func testClosingFromInsideOnReadStopsReadsAndFlushesTheReply() throws {
        let loop = try makeLoop()
        var serverReads = 0
        var serverCloses = 0
        let listener = try loop.listenTCP(host: host, port: 0) { connection in
            connection.onRead = { _ in
                serverReads += 1
                connection.write(Array("bye".utf8))
                connection.close()
            }
            connection.onClose = { _ in serverCloses += 1 }
        }
        var reply: [UInt8] = []
        var clientClosed = false
        loop.connectTCP(host: host, port: listener.port) { result in
            guard case .success(let client) = result else { return XCTFail("connect: \(result)") }
            client.onRead = { reply += $0 }
            client.onClose = { _ in
                clientClosed = true
                loop.stop()
            }
            client.write(Array("first".utf8))
            loop.schedule(afterMs: 0) { client.write(Array("second".utf8)) }
        }
        runLoop(loop)
        XCTAssertEqual(serverReads, 1)
        XCTAssertEqual(serverCloses, 1)
        XCTAssertEqual(String(decoding: reply, as: UTF8.self), "bye")
        XCTAssertTrue(clientClosed)
    }

    func testAbortFromInsideOnReadIsSafe() throws {
        let loop = try makeLoop()
        var serverReads = 0
        let listener = try loop.listenTCP(host: host, port: 0) { connection in
            connection.onRead = { _ in
                serverReads += 1
                connection.abort()
                connection.write([0])  // ignored: already closed
            }
        }
        loop.connectTCP(host: host, port: listener.port) { result in
            guard case .success(let client) = result else { return XCTFail("connect: \(result)") }
            client.onClose = { _ in loop.stop() }
            client.write([UInt8](repeating: 7, count: 300_000))
        }
        runLoop(loop)
        XCTAssertEqual(serverReads, 1)
    }

    func testTwoHundredConnectionsAtOnce() throws {
        let loop = try makeLoop()
        let count = 200
        var serverCloses = 0
        var echoedCorrectly = 0
        var finished = 0
        func checkDone() {
            if finished == count, serverCloses == count { loop.stop() }
        }
        let listener = try loop.listenTCP(host: host, port: 0) { connection in
            connection.onRead = { connection.write(Array($0)) }
            connection.onClose = { _ in
                serverCloses += 1
                checkDone()
            }
        }
        for index in 0..<count {
            let message = withUnsafeBytes(of: UInt32(index).bigEndian) { Array($0) }
            loop.connectTCP(host: host, port: listener.port) { result in
                guard case .success(let client) = result else {
                    XCTFail("connect \(index): \(result)")
                    finished += 1
                    return
                }
                var received: [UInt8] = []
                client.onRead = { bytes in
                    received += bytes
                    guard received.count >= message.count else { return }
                    if received == message { echoedCorrectly += 1 }
                    client.close()
                }
                client.onClose = { _ in
                    finished += 1
                    checkDone()
                }
                client.write(message)
            }
        }
        runLoop(loop)
        XCTAssertEqual(echoedCorrectly, count)
        XCTAssertEqual(serverCloses, count)
        XCTAssertEqual(loop.registeredSocketCount, 1, "only the listener should remain")
        listener.close()
        XCTAssertEqual(loop.registeredSocketCount, 0)
    }

    func testClosedConnectionIsFreedDespiteCallbacksThatCaptureIt() throws {
        let loop = try makeLoop()
        weak var serverSide: TCPConnection?
        let listener = try loop.listenTCP(host: host, port: 0) { connection in
            serverSide = connection
            // Strong self-captures: a cycle that closing must break.
            connection.onRead = { connection.write(Array($0)) }
            connection.onDrain = { _ = connection.pendingWriteBytes }
            connection.onClose = { _ in
                XCTAssertFalse(connection.isOpen)
                loop.stop()
            }
        }
        loop.connectTCP(host: host, port: listener.port) { result in
            guard case .success(let client) = result else { return XCTFail("connect: \(result)") }
            client.write([1])
            client.close()
        }
        runLoop(loop)
        XCTAssertNil(serverSide, "a closed connection leaked")
    }

    func testConnectToAClosedPortFailsWithConnectionRefused() throws {
        let loop = try makeLoop()
        let listener = try loop.listenTCP(host: host, port: 0) { _ in }
        let port = listener.port
        listener.close()
        var outcome: Result<TCPConnection, NetError>?
        loop.connectTCP(host: host, port: port) { result in
            outcome = result
            loop.stop()
        }
        runLoop(loop)
        guard case .failure(let error) = outcome else { return XCTFail("connected to a closed port") }
        XCTAssertEqual(error.errno, ECONNREFUSED)
    }

    func testConnectToABadAddressFailsOnTheLoopNotInline() throws {
        let loop = try makeLoop()
        var returned = false
        var errorCode: Int32?
        loop.connectTCP(host: "not-an-ip", port: 1) { result in
            XCTAssertTrue(returned, "callback ran inside connectTCP")
            if case .failure(let error) = result { errorCode = error.errno }
            loop.stop()
        }
        returned = true
        runLoop(loop)
        XCTAssertEqual(errorCode, EINVAL)
    }

    func testListeningOnABusyPortFailsWithAddressInUse() throws {
        let loop = try makeLoop()
        let first = try loop.listenTCP(host: host, port: 0) { _ in }
        XCTAssertThrowsError(try loop.listenTCP(host: host, port: first.port) { _ in }) { error in
            XCTAssertEqual((error as? NetError)?.errno, EADDRINUSE)
        }
    }

    func testShutdownClosesOpenSocketsAndLetsTheLoopBeFreed() throws {
        weak var freedLoop: EventLoop?
        var client: TCPConnection?
        var clientCloses: [NetError?] = []
        var pendingConnectErrno: Int32?
        do {
            let loop = try EventLoop()
            freedLoop = loop
            // Callbacks capturing the loop: a cycle while the sockets are open.
            let listener = try loop.listenTCP(host: host, port: 0) { connection in
                connection.onRead = { _ in loop.stop() }
            }
            loop.connectTCP(host: host, port: listener.port) { result in
                client = try? result.get()
                client?.onClose = { clientCloses.append($0) }
                client?.write([1])
            }
            runLoop(loop)
            loop.connectTCP(host: host, port: listener.port) { result in
                if case .failure(let error) = result { pendingConnectErrno = error.errno }
            }
            loop.shutdown()
            XCTAssertEqual(loop.registeredSocketCount, 0)
        }
        XCTAssertNil(freedLoop, "the loop leaked")
        XCTAssertEqual(clientCloses.count, 1)
        XCTAssertFalse(client?.isOpen ?? true)
        XCTAssertEqual(pendingConnectErrno, ECANCELED)
    }
}
