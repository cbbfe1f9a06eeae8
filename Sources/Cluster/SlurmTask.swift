import Foundation

/// One task of a Slurm job step running `distillery slurm`: which daemon it is and where everything is,
/// derived from the SLURM_* environment and nothing else. Task 0 is the coordinator, tasks 1...teachers the
/// teacher workers, the rest the student replicas. Every port comes from the job id, so two jobs sharing a
/// node (or, in tests, several slurmd on one host) never collide.
public struct SlurmTask: Sendable, Equatable {
    public enum Role: Sendable, Equatable {
        case coordinator
        case teacher(Int)
        case student(Int)
    }

    public var jobID: Int
    /// SLURM_PROCID: this task's rank in the step.
    public var rank: Int
    /// SLURM_NTASKS.
    public var tasks: Int
    /// SLURMD_NODENAME: the node this task runs on.
    public var node: String
    /// The step's nodes in order (SLURM_STEP_NODELIST, else SLURM_JOB_NODELIST), expanded.
    public var nodes: [String]
    /// SLURM_CPUS_PER_TASK, when the job asked for it.
    public var cpusPerTask: Int?

    /// Ports per job: the coordinator takes the first, task i's metrics endpoint the (i + 1)th.
    public static let portsPerJob = 256

    public init(environment: [String: String]) throws {
        func required(_ name: String) throws -> String {
            guard let value = environment[name], !value.isEmpty else {
                throw ClusterError("\(name) is not set: run `distillery slurm` inside a Slurm job step (srun)")
            }
            return value
        }
        func number(_ name: String) throws -> Int {
            let text = try required(name)
            guard let n = Int(text), n >= 0 else { throw ClusterError("\(name)='\(text)' is not a number") }
            return n
        }
        jobID = try number("SLURM_JOB_ID")
        rank = try number("SLURM_PROCID")
        tasks = try number("SLURM_NTASKS")
        node = try required("SLURMD_NODENAME")
        nodes = try Hostlist.expand(environment["SLURM_STEP_NODELIST"] ?? required("SLURM_JOB_NODELIST"))
        cpusPerTask = environment["SLURM_CPUS_PER_TASK"].flatMap(Int.init)
        guard rank < tasks else { throw ClusterError("SLURM_PROCID \(rank) is not below SLURM_NTASKS \(tasks)") }
        guard tasks < Self.portsPerJob else { throw ClusterError("\(tasks) tasks: at most \(Self.portsPerJob - 1) fit one job's ports") }
    }

    /// What this task runs, for a job with `teachers` teacher tasks and `replicas` student replicas.
    public func role(teachers: Int, replicas: Int) throws -> Role {
        guard teachers >= 1 else { throw ClusterError("a job needs at least one teacher task (--teachers)") }
        guard tasks == 1 + teachers + replicas else {
            throw ClusterError("the step has \(tasks) tasks; this job needs 1 coordinator + \(teachers) teachers + \(replicas) student replicas = \(1 + teachers + replicas) (sbatch --ntasks)")
        }
        if rank == 0 { return .coordinator }
        if rank <= teachers { return .teacher(rank - 1) }
        return .student(rank - 1 - teachers)
    }

    /// The first port of this job's block, in 20000..<60960.
    public var basePort: Int { 20000 + (jobID % 160) * Self.portsPerJob }
    public var coordinatorPort: Int { basePort }
    public var metricsPort: Int { basePort + 1 + rank }
    /// Task 0 runs on the step's first node (Slurm's default block distribution).
    public var coordinatorNode: String { nodes[0] }

    /// A name for this worker that a job's `workers:` lists can use: NODE-teacherI / NODE-studentI.
    public func workerName(_ role: Role) -> String {
        switch role {
        case .coordinator: return "\(node)-coordinator"
        case let .teacher(i): return "\(node)-teacher\(i)"
        case let .student(i): return "\(node)-student\(i)"
        }
    }
}

/// Slurm's compressed host lists: "n[1-3,7],gpu[01-02],login" -> n1 n2 n3 n7 gpu01 gpu02 login.
public enum Hostlist {
    public static func expand(_ list: String) throws -> [String] {
        var hosts: [String] = []
        var item = "", depth = 0
        for c in list + "," {
            if c == "[" { depth += 1 }
            if c == "]" { depth -= 1 }
            guard depth >= 0 else { throw ClusterError("host list '\(list)': unbalanced ']'") }
            if c == "," && depth == 0 {
                if !item.isEmpty { hosts += try expandOne(item, list: list) }
                item = ""
            } else {
                item.append(c)
            }
        }
        guard depth == 0 else { throw ClusterError("host list '\(list)': unbalanced '['") }
        guard !hosts.isEmpty else { throw ClusterError("host list '\(list)' names no host") }
        return hosts
    }

    private static func expandOne(_ item: String, list: String) throws -> [String] {
        guard let open = item.firstIndex(of: "[") else { return [item] }
        guard let close = item[open...].firstIndex(of: "]") else { throw ClusterError("host list '\(list)': '[' without ']'") }
        let prefix = String(item[..<open]), body = item[item.index(after: open)..<close]
        let rest = String(item[item.index(after: close)...])
        var names: [String] = []
        for part in body.split(separator: ",") {
            let bounds = part.split(separator: "-", maxSplits: 1).map(String.init)
            guard let low = Int(bounds[0]), let high = Int(bounds.last!), low <= high, high - low < 100_000 else {
                throw ClusterError("host list '\(list)': bad range '\(part)'")
            }
            let width = bounds[0].count
            for n in low...high {
                let digits = String(n)
                names.append(prefix + String(repeating: "0", count: max(0, width - digits.count)) + digits)
            }
        }
        // A suffix may hold ranges of its own ("rack[1-2]-n[1-2]").
        return try names.flatMap { name in try rest.isEmpty ? [name] : expandOne(name + rest, list: list) }
    }
}
