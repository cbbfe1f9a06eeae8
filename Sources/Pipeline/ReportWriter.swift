import Cluster
import Foundation

/// Writes OUTPUT/report.md, report.json and accuracy-vs-sparsity.svg.
public struct ReportWriter {
    public let context: JobContext
    public let control: RunControl

    public init(context: JobContext, control: RunControl) {
        self.context = context
        self.control = control
    }

    public struct Written: Encodable {
        public var denseAccuracy: Double
        public var points: [PruningSweep.Point]
        public var compression: CompressionStages.Outcome?
        public var markdown: String
        public var plot: String

        enum CodingKeys: String, CodingKey {
            case points, compression, plot
            case denseAccuracy = "dense_accuracy"
        }
    }

    /// Runs `sweep` on `student` and writes what it found, with the compressed students the output directory holds.
    public func write(sweep: PruningSweep, student: String) throws -> Written {
        let output = context.spec.outputDirectory
        control.status("pruning sweep: \(sweep.stage.methods.map(\.rawValue).joined(separator: ", ")) at \(sweep.stage.sparsities.map { formatted($0, 2) }.joined(separator: ", "))")
        let (dense, points) = try sweep.run(student: student)
        let compression = try CompressionStages(context: context, control: control).measure()
        var markdown = "# Compression report: job \(context.spec.name)\n\n## Accuracy against sparsity\n\n"
            + PruningSweep.markdown(dense: dense, points: points) + "\n\n![accuracy against sparsity](accuracy-vs-sparsity.svg)\n"
        if let compression { markdown += "\n## The compressed student\n\n" + compression.table + "\n" }
        let plotPath = "\(output)/accuracy-vs-sparsity.svg"
        try Data(PruningSweep.plot(dense: dense, points: points).utf8).write(to: URL(fileURLWithPath: plotPath), options: .atomic)
        try Data(markdown.utf8).write(to: URL(fileURLWithPath: "\(output)/report.md"), options: .atomic)
        let written = Written(denseAccuracy: dense, points: points, compression: compression, markdown: markdown, plot: plotPath)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(written).write(to: URL(fileURLWithPath: "\(output)/report.json"), options: .atomic)
        return written
    }
}
