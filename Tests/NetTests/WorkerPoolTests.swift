import Foundation
import XCTest
@testable import Net

final class WorkerPoolTests: XCTestCase {
    func testResultsArriveOnTheLoopThreadAndWorkRunsOffIt() throws {
        let loop = try makeLoop()
        let pool = WorkerPool(threads: 2, loop: loop)
        defer { pool.shutdown() }
        let jobs = 20
        var results: [Int: Int] = [:]
        var doneOffLoop = 0
        var workOnLoop = 0
        for job in 0..<jobs {
            let accepted = pool.submit({ (job * job, loop.inLoopThread) }, done: { (square, ranOnLoop) in
                if !loop.inLoopThread { doneOffLoop += 1 }
                if ranOnLoop { workOnLoop += 1 }
                results[job] = square
                if results.count == jobs { loop.stop() }
            })
            XCTAssertTrue(accepted)
        }
        runLoop(loop)
        XCTAssertEqual(results.count, jobs)
        XCTAssertEqual(results[7], 49)
        XCTAssertEqual(doneOffLoop, 0)
        XCTAssertEqual(workOnLoop, 0)
    }

    func testSubmitRefusesWorkBeyondTheQueueBoundAndAfterShutdown() throws {
        let loop = try makeLoop()
        let pool = WorkerPool(threads: 1, loop: loop, maxQueuedJobs: 1)
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        var done: [Int] = []
        XCTAssertTrue(pool.submit({ started.signal(); release.wait(); return 1 }, done: { done.append($0) }))
        started.wait()  // the only worker is now busy
        XCTAssertTrue(pool.submit({ 2 }, done: { done.append($0); loop.stop() }))
        XCTAssertFalse(pool.submit({ 3 }, done: { done.append($0) }), "queue bound not enforced")
        release.signal()
        runLoop(loop)
        XCTAssertEqual(done, [1, 2])
        pool.shutdown()
        XCTAssertFalse(pool.submit({ 4 }, done: { _ in }))
    }
}
