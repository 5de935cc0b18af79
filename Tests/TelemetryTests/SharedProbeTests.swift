@testable import HTTPEndpoints
import Synchronization
import Testing
import TestSupport

@Suite struct SharedProbeTests {
    /// How long a task may take to get its turn: in a test process whose other tests block the
    /// cooperative pool's threads, many seconds.
    private static let patience: Double = 120

    @Test func callersWhileAProbeRunsShareItAndAYoungAnswerServesLaterOnes() async {
        let runs = Atomic<Int>(0)
        let (gate, open) = AsyncStream<Void>.makeStream()
        let probe = SharedProbe(maxAge: .seconds(3600)) { () -> Int in
            let run = runs.add(1, ordering: .relaxed).newValue
            for await _ in gate { break }
            return run
        }
        async let first = probe.value()
        #expect(await eventuallyAsync(timeout: Self.patience) { runs.load(ordering: .relaxed) == 1 }, "the first caller runs the probe")
        async let second = probe.value()
        async let third = probe.value()
        #expect(await eventuallyAsync(timeout: Self.patience) { await probe.waitingCallers == 2 })
        open.yield()
        #expect(await [first, second, third] == [1, 1, 1])
        #expect(await probe.value() == 1, "an answer younger than maxAge serves without a probe")
        #expect(runs.load(ordering: .relaxed) == 1)
    }

    @Test func aCallerThatGoesAwayDoesNotCutTheProbeShortForTheOthers() async {
        let started = Atomic<Int>(0)
        let (gate, open) = AsyncStream<Void>.makeStream()
        // Waiting on the gate ends early if the probe's task is cancelled: it then answers true.
        let probe = SharedProbe(maxAge: .seconds(3600)) { () -> Bool in
            started.add(1, ordering: .relaxed)
            for await _ in gate { break }
            return Task.isCancelled
        }
        let first = Task { await probe.value() }
        #expect(await eventuallyAsync(timeout: Self.patience) { started.load(ordering: .relaxed) == 1 })
        async let second = probe.value()
        #expect(await eventuallyAsync(timeout: Self.patience) { await probe.waitingCallers == 1 })
        first.cancel()
        open.yield()
        #expect(await second == false, "the probe ran to its end for the caller still waiting")
        #expect(await first.value == false)
    }

    @Test func anAnswerOlderThanMaxAgeIsProbedAgain() async {
        let runs = Atomic<Int>(0)
        let probe = SharedProbe(maxAge: .zero) { runs.add(1, ordering: .relaxed).newValue }
        #expect(await probe.value() == 1)
        #expect(await probe.value() == 2)
    }
}
