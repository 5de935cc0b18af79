@testable import Blocking
import Foundation
import Synchronization
import Testing

/// Slots are taken in the order asked for, a wait ends at its patience or its task's cancellation,
/// and waiting from async code holds no thread. Nothing here waits on time to learn an order: the
/// waiters' positions are read from the slots themselves.
@Suite struct ConnectionSlotsTests {
    /// The waiters' indices in the order they were given a slot, shared with the tasks they run in.
    private final class Served: Sendable {
        let order = Mutex<[Int]>([])
    }

    /// Returns once `slots` has `count` waiters (they queue on their own schedule).
    private func untilWaiting(_ slots: ConnectionSlots, _ count: Int) async {
        while slots.waiting < count { await Task.yield() }
    }

    /// Queues `count` async waiters behind the slot the test holds (each in turn when `oneByOne`,
    /// so the queue's order is their indices'), then gives that slot; each waiter that gets one
    /// gives it back. Returns the indices in the order they were served.
    private func serveWaiters(_ count: Int, on slots: ConnectionSlots, oneByOne: Bool) async -> [Int] {
        let served = Served()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                group.addTask {
                    if await slots.take(patience: .seconds(600)) {
                        served.order.withLock { $0.append(index) }
                        slots.give()
                    }
                }
                if oneByOne { await untilWaiting(slots, index + 1) }
            }
            await untilWaiting(slots, count)
            slots.give()
        }
        return served.order.withLock { $0 }
    }

    @Test func freeSlotsAreTakenAtOnceAndGivenBack() async {
        let slots = ConnectionSlots(2)
        #expect(await slots.take(patience: .seconds(60)))
        #expect(await slots.take(patience: .seconds(60)))
        #expect(slots.free == 0)
        slots.give()
        slots.give()
        #expect(slots.free == 2 && slots.waiting == 0)
    }

    @Test func aGivenSlotGoesToTheLongestWaiter() async {
        let slots = ConnectionSlots(1)
        #expect(await slots.take(patience: .seconds(60)))
        let served = await serveWaiters(4, on: slots, oneByOne: true)
        #expect(served == [0, 1, 2, 3])
        #expect(slots.free == 1 && slots.waiting == 0)
    }

    @Test func aWaitEndsUnansweredAtItsPatience() async {
        let slots = ConnectionSlots(1)
        #expect(await slots.take(patience: .seconds(60)))
        #expect(await slots.take(patience: .milliseconds(50)) == false)
        #expect(slots.waiting == 0, "a waiter that gave up leaves the queue")
        slots.give()
        #expect(slots.free == 1, "and takes nothing with it")
    }

    @Test func aCancelledWaitEndsUnanswered() async {
        let slots = ConnectionSlots(1)
        #expect(await slots.take(patience: .seconds(60)))
        let waiter = Task { await slots.take(patience: .seconds(600)) }
        await untilWaiting(slots, 1)
        waiter.cancel()
        #expect(await waiter.value == false)
        #expect(slots.waiting == 0)
        slots.give()
        #expect(slots.free == 1)
    }

    @Test func manyWaitersFromAsyncCodeHoldNoThread() async {
        // Far more waiters than the cooperative pool has threads: were each to block one, the
        // slot given to the first of them could never reach it.
        let slots = ConnectionSlots(1)
        #expect(await slots.take(patience: .seconds(60)))
        let served = await serveWaiters(200, on: slots, oneByOne: false)
        #expect(served.sorted() == Array(0..<200), "every waiter served once")
        #expect(slots.free == 1)
    }
}
