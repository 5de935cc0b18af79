import CoreMetrics
import Prometheus

/// The Prometheus side of the metrics: a registry of swift-prometheus that receives what
/// `metrics` records, and writes Prometheus' text exposition of it. Values that are read rather
/// than recorded (readiness, breakers, process memory) are set on the registry before each
/// exposition by whoever serves it.
public final class MetricsExposition: Sendable {
    /// The registry the exposition is written from.
    public let registry: PrometheusCollectorRegistry
    /// What the server's parts record into, for this registry.
    public let metrics: RagMetrics

    /// The content type of `text()`: Prometheus' text format, version 0.0.4.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Upper bounds of the duration histograms: a query's fusion or a cached answer takes
    /// microseconds, its embedding milliseconds, an ingest seconds, so the buckets run from 10 µs to
    /// 30 s (a quantile is read between two bounds: one that falls in a wide first bucket is a guess).
    static let durationBuckets: [Duration] = [
        .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
        .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]

    public init() {
        registry = PrometheusCollectorRegistry()
        metrics = RagMetrics(factory: DescribedFactory(registry: registry))
    }

    /// Every metric in Prometheus' text exposition format.
    public func text() -> [UInt8] {
        registry.emitToBuffer()
    }

    /// The gauge `metric` with `labels`, for a value read at exposition time.
    public func gauge(_ metric: MetricCatalog, labels: [(String, String)] = []) -> Prometheus.Gauge {
        registry.makeGauge(descriptor: Self.descriptor(metric.name), labels: labels)
    }

    /// The counter `metric` with `labels`, for a total read at exposition time.
    public func counter(_ metric: MetricCatalog, labels: [(String, String)] = []) -> Prometheus.Counter {
        registry.makeCounter(descriptor: Self.descriptor(metric.name), labels: labels)
    }

    /// The registry's description of the metric called `name`: the name whole (the catalog's
    /// names carry their unit already) and its help text.
    static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: MetricCatalog.help(for: name))
    }
}

/// swift-metrics' factory over the registry, giving each metric its help text from
/// `MetricCatalog` (swift-prometheus' own factory gives none, which `promtool check metrics`
/// refuses).
struct DescribedFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: MetricsExposition.descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: MetricsExposition.descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        registry.makeGauge(descriptor: MetricsExposition.descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(descriptor: MetricsExposition.descriptor(label), labels: dimensions,
                                       buckets: MetricsExposition.durationBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
