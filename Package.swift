// swift-tools-version:6.0
import PackageDescription

// One C shim per system library (CDNNL, CZlib); exactly one Swift module imports each.
let package = Package(
    name: "Distillery",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "distillery", targets: ["DistilleryCLI"]),
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
        // Plain C over libzmq: the reference `bench wire` measures the Swift layer against.
        .target(name: "CWireBaseline", linkerSettings: [.linkedLibrary("zmq"), .linkedLibrary("pthread")]),
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
        .target(name: "Jobs", dependencies: ["NeuralNet", "Datasets", "Compression", .product(name: "Yams", package: "Yams")]),
        // What the daemons use: validated messages over ZeroMQ, never libzmq or protobuf-c directly.
        .target(name: "Wire", dependencies: ["WireProtocol", "ZeroMQ"]),
        .target(name: "Training", dependencies: ["Compute", "NeuralNet", "Datasets", "SafeTensors"]),
        // The daemons: coordinator (with its SQLite state), teacher worker, student trainer.
        .target(name: "Compression", dependencies: ["Compute", "NeuralNet", "Datasets", "Training", "SafeTensors"]),
        // ONNX models: a graph interpreter on our backend (teachers from PyTorch) and fp32 / QDQ int8 export.
        .target(name: "ONNX", dependencies: ["COnnxProto", "ProtobufSupport", "Compute", "NeuralNet", "Compression", "SafeTensors", "Datasets"]),
        // Every daemon's /metrics: swift-prometheus's registry behind a small HTTP endpoint of its own.
        .target(name: "Monitoring", dependencies: [.product(name: "Prometheus", package: "swift-prometheus")]),
        .target(name: "Cluster", dependencies: ["CSQLite", "Compute", "NeuralNet", "Datasets", "Jobs", "Training", "Wire", "ONNX", "Monitoring"]),
        .executableTarget(
            name: "DistilleryCLI",
            dependencies: [
                "Compute", "NeuralNet", "Datasets", "SafeTensors", "Training", "Wire", "CWireBaseline", "Jobs", "Cluster", "Compression", "ONNX", "Monitoring",
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
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Jobs", "NeuralNet", "Datasets", "Compute", "Wire", "Compression", "TestSupport"]),
        .testTarget(name: "MonitoringTests", dependencies: ["Monitoring", "TestSupport"]),
        .testTarget(name: "CompressionTests", dependencies: ["Compression", "NeuralNet", "Training", "Datasets", "Compute", "SafeTensors", "TestSupport"]),
        .testTarget(name: "ONNXTests", dependencies: ["ONNX", "COnnxProto", "NeuralNet", "Compression", "Compute", "Datasets", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["SafeTensors", "TestSupport", "DistilleryCLI"]),
    ]
)
