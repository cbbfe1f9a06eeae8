// swift-tools-version:6.0
import PackageDescription

// One C shim per system library (CDNNL, CZlib); exactly one Swift module imports each.
let package = Package(
    name: "Distillery",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "distillery", targets: ["DistilleryCLI"]),
        .executable(name: "distillery-wire-bench", targets: ["WireBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // oneDNN: Debian ships no dnnl.pc, so the libraries are linked by name.
        .target(
            name: "CDNNL",
            linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]
        ),
        .target(name: "CZlib", linkerSettings: [.linkedLibrary("z")]),
        .target(name: "CZeroMQ", linkerSettings: [.linkedLibrary("zmq")]),
        .target(name: "CChecksum"),
        .target(name: "CSQLite", linkerSettings: [.linkedLibrary("sqlite3")]),
        // Plain C over libzmq: the reference distillery-wire-bench measures the Swift layer against (never in the product).
        .target(name: "CWireBaseline", dependencies: ["CChecksum"], linkerSettings: [.linkedLibrary("zmq"), .linkedLibrary("pthread")]),
        .executableTarget(name: "WireBench", dependencies: ["Wire", "CWireBaseline", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // protoc-c output, written only by proto/generate.sh.
        .target(name: "CDistilleryProto", linkerSettings: [.linkedLibrary("protobuf-c")]),
        .target(name: "COnnxProto", linkerSettings: [.linkedLibrary("protobuf-c")]),
        // C memory for building protobuf-c messages from Swift.
        .target(name: "ProtobufSupport"),
        .target(name: "Compute", dependencies: ["CDNNL"]),
        .target(name: "NeuralNet", dependencies: ["Compute", "SafeTensors"]),
        .target(name: "Datasets", dependencies: ["Compute", "CZlib"]),
        .target(name: "SafeTensors"),
        .target(name: "WireProtocol", dependencies: ["CDistilleryProto", "CChecksum", "ProtobufSupport"]),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        // Job files (YAML): what a distillation run is, checked with line numbers before anything starts.
        .target(name: "Jobs", dependencies: ["NeuralNet", "Datasets", "CompressionSettings", .product(name: "Yams", package: "Yams")]),
        // What the daemons use: validated messages over ZeroMQ, never libzmq or protobuf-c directly.
        .target(name: "Wire", dependencies: ["WireProtocol", "ZeroMQ"]),
        .target(name: "Training", dependencies: ["Compute", "NeuralNet", "Datasets", "SafeTensors"]),
        // The daemons: coordinator (with its SQLite state), teacher worker, student trainer.
        // The names a compression stage takes (methods, rewind points, calibration rules): what job files may say.
        .target(name: "CompressionSettings", dependencies: ["NeuralNet"]),
        .target(name: "Compression", dependencies: ["CompressionSettings", "Compute", "NeuralNet", "Datasets", "Training", "SafeTensors"]),
        // ONNX models read and written, and a graph interpreter on our backend (teachers from PyTorch).
        .target(name: "ONNX", dependencies: ["COnnxProto", "ProtobufSupport", "Compute", "NeuralNet", "SafeTensors", "Datasets"]),
        // Students to ONNX: fp32 graphs and QDQ int8 ones (what needs the compressor).
        .target(name: "ONNXExport", dependencies: ["ONNX", "Compression", "NeuralNet", "Datasets"]),
        // Every daemon's /metrics: swift-prometheus's registry behind a small HTTP endpoint of its own.
        .target(name: "Monitoring", dependencies: [.product(name: "Prometheus", package: "swift-prometheus")]),
        // Durable state on the local disk: SQLite (CSQLite's one importer) and directory locks.
        .target(name: "Storage", dependencies: ["CSQLite"]),
        .target(name: "Cluster", dependencies: ["Storage", "Compute", "NeuralNet", "Datasets", "Jobs", "Training", "Wire", "ONNX", "Monitoring"]),
        // What the commands do, as a library: local clusters, the job pipeline, compression and export of files.
        .target(name: "Pipeline", dependencies: ["Cluster", "Compression", "CompressionSettings", "Compute", "Datasets", "Jobs", "NeuralNet", "ONNX", "ONNXExport", "Training"]),
        .executableTarget(
            name: "DistilleryCLI",
            dependencies: [
                "Compute", "NeuralNet", "Datasets", "SafeTensors", "Training", "Wire", "Jobs", "Cluster", "Compression", "CompressionSettings", "ONNX", "ONNXExport", "Monitoring", "Pipeline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Helpers shared by the test targets: processes, Python peers, temporary directories.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "ComputeTests", dependencies: ["Compute"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "Compute", "SafeTensors", "TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Compute", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "NeuralNet", "Datasets", "Compute", "TestSupport"]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors", "TestSupport"]),
        .testTarget(name: "WireProtocolTests", dependencies: ["WireProtocol", "CDistilleryProto"]),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ", "TestSupport"]),
        .testTarget(name: "WireTests", dependencies: ["Wire", "WireProtocol", "ZeroMQ"]),
        .testTarget(name: "JobsTests", dependencies: ["Jobs", "Compression", "Datasets", "TestSupport"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Pipeline", "Storage", "Jobs", "NeuralNet", "Datasets", "Compute", "Wire", "Compression", "TestSupport"]),
        .testTarget(name: "MonitoringTests", dependencies: ["Monitoring", "TestSupport"]),
        .testTarget(name: "CompressionTests", dependencies: ["Compression", "NeuralNet", "Training", "Datasets", "Compute", "SafeTensors", "TestSupport"]),
        .testTarget(name: "ONNXTests", dependencies: ["ONNX", "ONNXExport", "COnnxProto", "NeuralNet", "Compression", "Compute", "Datasets", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["SafeTensors", "TestSupport", "DistilleryCLI", "NeuralNet"]),
    ]
)
