@testable import KnowledgeBase
import Synchronization
import Testing

/// A report waits for the counts begun before it, not for those begun after.
@Suite struct CountsInFlightTests {
    private final class Flag: Sendable {
        let raised = Atomic<Bool>(false)
        var isRaised: Bool { raised.load(ordering: .acquiring) }
    }

    @Test func nothingInFlightIsSettledAtOnce() async {
        let counts = CountsInFlight()
        await counts.settled()
        counts.finish(counts.begin())
        await counts.settled()
    }

    @Test func aReportWaitsForTheCountsBegunBeforeIt() async {
        let counts = CountsInFlight()
        let (first, second) = (counts.begin(), counts.begin())
        let settled = Flag()
        let report = Task {
            await counts.settled()
            settled.raised.store(true, ordering: .releasing)
        }
        while counts.waiting == 0 { await Task.yield() }
        // Begun after the report asked: must not hold it up.
        let later = counts.begin()
        counts.finish(second)
        // Still registered, so not resumed: `finish` releases a report, synchronously, only once
        // every count begun before it has finished.
        #expect(counts.waiting == 1, "the first count is still being written")
        #expect(!settled.isRaised)
        counts.finish(first)
        #expect(counts.waiting == 0)
        await report.value
        #expect(settled.isRaised)
        counts.finish(later)
    }
}
