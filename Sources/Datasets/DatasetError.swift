/// A problem with a data file or data set name, naming the file (or name) and what is wrong.
public struct DatasetError: Error, CustomStringConvertible, Equatable {
    public let source: String
    public let problem: String
    public init(_ source: String, _ problem: String) { self.source = source; self.problem = problem }
    public var description: String { "\(source): \(problem)" }
}
