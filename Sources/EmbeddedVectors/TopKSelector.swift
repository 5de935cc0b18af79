/// Keeps the `capacity` best elements of those offered, for top-k retrieval without sorting everything.
///
/// A binary heap whose root is the worst element kept: each new candidate is compared with the root
/// alone, and most candidates of a large search are turned away by that one comparison.
struct TopKSelector<Element> {
    /// The most elements kept.
    let capacity: Int
    /// True when the first element ranks strictly before the second; must be a strict total order
    /// so results do not depend on the order candidates arrive in.
    let isBetter: (Element, Element) -> Bool
    private var heap: [Element] = []

    init(capacity: Int, isBetter: @escaping (Element, Element) -> Bool) {
        self.capacity = max(0, capacity)
        self.isBetter = isBetter
        heap.reserveCapacity(self.capacity)
    }

    /// Keeps `element` if it is among the best `capacity` seen so far.
    mutating func offer(_ element: Element) {
        if heap.count < capacity {
            heap.append(element)
            siftUp(from: heap.count - 1)
        } else if capacity > 0, isBetter(element, heap[0]) {
            heap[0] = element
            siftDown(from: 0)
        }
    }

    /// The worst element kept once `capacity` are kept (nil before): a caller can turn away what
    /// is plainly worse without the cost of `offer`.
    var worstKeptWhenFull: Element? {
        heap.count == capacity && capacity > 0 ? heap[0] : nil
    }

    /// The elements kept, best first.
    func sortedBestFirst() -> [Element] {
        heap.sorted(by: isBetter)
    }

    // Heap order: no child is worse than its parent, so the root is the worst kept.
    private mutating func siftUp(from start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard isBetter(heap[parent], heap[child]) else { return }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            // The two children compared one by one: a literal array of them would be allocated
            // on every step, which cost more than the comparisons.
            var worst = parent
            let left = 2 * parent + 1, right = left + 1
            if left < heap.count, isBetter(heap[worst], heap[left]) { worst = left }
            if right < heap.count, isBetter(heap[worst], heap[right]) { worst = right }
            guard worst != parent else { return }
            heap.swapAt(parent, worst)
            parent = worst
        }
    }
}
