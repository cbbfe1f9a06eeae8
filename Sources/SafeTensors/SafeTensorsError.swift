/// A problem with a safetensors file, naming the file and what is wrong with it.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    public let source: String
    public let problem: String
    public init(_ source: String, _ problem: String) { self.source = source; self.problem = problem }
    public var description: String { "\(source): \(problem)" }
}
