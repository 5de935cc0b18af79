@testable import Blocking
import Foundation
import Synchronization
import Testing

/// `waitForCallback`, which shutdown's waits for threads of their own (the executor's drain, the
/// embedding threads' end) go through: it returns when called back, or at once when cancelled.
@Suite struct CallbackWaitTests {
    @Test func returnsWhenCalledBackFromAnotherThreadOrAtOnce() async {
        await waitForCallback { done in Thread { done() }.start() }
        await waitForCallback { done in done() }
    }

    @Test func aCancelledWaitReturnsWithoutItsCallback() async {
        let handedOver = Mutex<(@Sendable () -> Void)?>(nil)
        let waiter = Task { await waitForCallback { done in handedOver.withLock { $0 = done } } }
        waiter.cancel()
        await waiter.value
        let callback = handedOver.withLock { $0 }
        #expect(callback != nil, "the work was started")
        // Called after the wait gave up, it changes nothing (and resumes nothing twice).
        callback?()
    }

    @Test func aWaitCancelledBeforeItBeginsReturnsAtOnce() async {
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await waitForCallback { _ in }
        }
        await waiter.value
    }
}
