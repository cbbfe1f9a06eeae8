/// A problem with an ONNX file or one of its nodes; the message names the file, node and operator involved.
public struct OnnxError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) { self.description = description }

    public init(file: String, _ message: String) { description = "\(file): \(message)" }
}

/// What a kernel knows about the node it runs, for errors that name it.
struct NodeLabel: CustomStringConvertible {
    var name: String, op: String
    var description: String { "node '\(name)' (\(op))" }

    func error(_ message: String) -> OnnxError { OnnxError("\(self): \(message)") }
}
