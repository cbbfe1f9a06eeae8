import Prometheus

public typealias Counter = Prometheus.Counter
public typealias Gauge = Prometheus.Gauge
public typealias ValueHistogram = Prometheus.ValueHistogram

/// A daemon's metrics: every name under `distillery_<subsystem>_`, each with its help text, exported by
/// a `MetricsServer`. Instruments are thread-safe; the daemon's loop updates them as it works.
public final class MetricsRegistry: Sendable {
    public let prometheus = PrometheusCollectorRegistry()
    public let subsystem: String

    public init(subsystem: String) { self.subsystem = subsystem }

    /// A counter `distillery_<subsystem>_<name>_<unit>` (unit "total" for plain counts).
    public func counter(_ name: String, unit: String = "total", _ help: String, labels: [(String, String)] = []) -> Counter {
        prometheus.makeCounter(descriptor: descriptor(name, unit, help), labels: labels)
    }

    public func gauge(_ name: String, unit: String = "", _ help: String, labels: [(String, String)] = []) -> Gauge {
        prometheus.makeGauge(descriptor: descriptor(name, unit, help), labels: labels)
    }

    public func histogram(_ name: String, unit: String, _ help: String, buckets: [Double]) -> ValueHistogram {
        prometheus.makeValueHistogram(descriptor: descriptor(name, unit, help), buckets: buckets)
    }

    /// The text exposition format, as a scrape sees it.
    public func text() -> String { prometheus.emitToString() }

    private func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "distillery", subsystem: subsystem, metricName: name, unitName: unit, helpText: help)
    }
}
