import Foundation
import Synchronization

/// An in-process LRU cache with a time to live, bounded by entry count.
///
/// A dictionary of nodes in a doubly linked list kept by index into one array, so a hit is O(1)
/// with no allocation: the front is the most recently used entry, the back is evicted first.
public final class MemoryResultCache: ResultCache {
    public let backendName = "memory"
    /// The most entries held; the least recently used goes first when full.
    public let capacity: Int
    /// How long an entry stays valid.
    public let timeToLive: TimeInterval
    private let state: Mutex<LRUState>

    public init(capacity: Int = 1024, timeToLive: TimeInterval = 300) {
        precondition(capacity > 0, "a cache holds at least one entry")
        self.capacity = capacity
        self.timeToLive = timeToLive
        self.state = Mutex(LRUState())
    }

    public func value(forKey key: String, now: Date) -> Data? {
        state.withLock { state in
            guard let index = state.indexByKey[key] else {
                state.misses += 1
                return nil
            }
            if state.nodes[index].expires <= now {
                state.remove(at: index)
                state.misses += 1
                return nil
            }
            state.moveToFront(index)
            state.hits += 1
            return state.nodes[index].value
        }
    }

    public func store(_ value: Data, forKey key: String, now: Date) {
        let expires = now.addingTimeInterval(timeToLive)
        state.withLock { state in
            if let index = state.indexByKey[key] {
                state.bytes += value.count - state.nodes[index].value.count
                state.nodes[index].value = value
                state.nodes[index].expires = expires
                state.moveToFront(index)
                return
            }
            if state.indexByKey.count >= capacity, state.tail >= 0 {
                state.remove(at: state.tail)
            }
            state.insertAtFront(key: key, value: value, expires: expires)
        }
    }

    public func removeAll() {
        state.withLock { state in
            let (hits, misses) = (state.hits, state.misses)
            state = LRUState()
            state.hits = hits
            state.misses = misses
        }
    }

    public func statistics() -> ResultCacheStatistics {
        state.withLock { ResultCacheStatistics(entries: $0.indexByKey.count, hits: $0.hits, misses: $0.misses, bytes: $0.bytes) }
    }
}

/// The list and map behind `MemoryResultCache`; freed slots are reused through `free`.
private struct LRUState {
    struct Node {
        var key: String
        var value: Data
        var expires: Date
        var previous = -1
        var next = -1
    }

    var nodes: [Node] = []
    var free: [Int] = []
    var indexByKey: [String: Int] = [:]
    var head = -1
    var tail = -1
    var hits = 0
    var misses = 0
    var bytes = 0

    mutating func insertAtFront(key: String, value: Data, expires: Date) {
        let node = Node(key: key, value: value, expires: expires)
        let index: Int
        if let reused = free.popLast() {
            nodes[reused] = node
            index = reused
        } else {
            nodes.append(node)
            index = nodes.count - 1
        }
        indexByKey[key] = index
        bytes += value.count + key.utf8.count
        link(index)
    }

    mutating func remove(at index: Int) {
        unlink(index)
        let node = nodes[index]
        indexByKey[node.key] = nil
        bytes -= node.value.count + node.key.utf8.count
        nodes[index].value = Data()
        nodes[index].key = ""
        free.append(index)
    }

    mutating func moveToFront(_ index: Int) {
        guard head != index else { return }
        unlink(index)
        link(index)
    }

    private mutating func link(_ index: Int) {
        nodes[index].previous = -1
        nodes[index].next = head
        if head >= 0 { nodes[head].previous = index }
        head = index
        if tail < 0 { tail = index }
    }

    private mutating func unlink(_ index: Int) {
        let (previous, next) = (nodes[index].previous, nodes[index].next)
        if previous >= 0 { nodes[previous].next = next } else { head = next }
        if next >= 0 { nodes[next].previous = previous } else { tail = previous }
        nodes[index].previous = -1
        nodes[index].next = -1
    }
}
