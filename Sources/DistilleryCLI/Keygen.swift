import ArgumentParser
import Cluster
import Foundation

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write CURVE key pairs for a cluster: the coordinator's and one per worker, with the allow-list.",
        discussion: """
        Each pair is DIR/NAME.key (public) and DIR/NAME.secret (both keys, mode 0600).
        DIR/allow lists 'PUBLIC_KEY NAME ROLE [MEMBERS]' per worker key: what that key
        may do (teacher, student, or operator for status; a teacher may be limited to
        some ensemble members). The coordinator needs coordinator.secret and allow;
        each worker needs coordinator.key and its own NAME.secret (workers pick theirs
        with --key NAME, default their --name); copy only those where they run.

        Examples:
          distillery keygen --out keys --teachers 2 --students 1
              (coordinator, teacher-1, teacher-2, student-1 and operator: the
              names the local run and Slurm use)
          distillery keygen --out keys --name gpu-box --role teacher \\
            --members bert-large
        """
    )

    @Option(help: "Directory to write the keys to (created if missing).")
    var out: String

    @Option(help: "One key pair of this name (coordinator, or a worker's name with --role).")
    var name: String?

    @Option(help: "The role of --name's key in the allow-list: teacher, student or operator.")
    var role: String?

    @Option(help: "Ensemble members a teacher key may serve (comma-separated; default: any).")
    var members: String?

    @Option(help: "A whole set: the coordinator, this many teachers (teacher-1...), --students, and an operator key.")
    var teachers: Int?

    @Option(help: "Student replicas of the whole set (student-1...).")
    var students: Int = 1

    @Flag(help: "Replace existing key files.")
    var force = false

    func validate() throws {
        guard (name == nil) != (teachers == nil) else { throw ValidationError("give either --name (one key pair) or --teachers N (a whole set)") }
        if let name {
            if let problem = WorkerName.problem(name) { throw ValidationError("--name: \(problem)") }
            if name == "coordinator" {
                guard role == nil else { throw ValidationError("the coordinator's key has no --role") }
            } else {
                guard let role, ClusterAllowList.Role(rawValue: role) != nil else {
                    throw ValidationError("--role: give teacher, student or operator for a worker's key '\(name)'")
                }
            }
            if members != nil && role != "teacher" { throw ValidationError("--members is for teacher keys") }
        }
        if let teachers { guard (1...1000).contains(teachers), (1...64).contains(students) else { throw ValidationError("--teachers 1...1000, --students 1...64") } }
    }

    func run() throws {
        let wanted = name.map { [ClusterKeySet.Wanted(name: $0, role: role.flatMap(ClusterAllowList.Role.init),
                                                      members: members.map { Set($0.split(separator: ",").map(String.init)) })] }
            ?? ClusterKeySet.standard(teachers: teachers!, students: students)
        let (pairs, allow) = try ClusterKeySet.write(wanted, to: URL(fileURLWithPath: out), force: force)
        for p in pairs {
            Terminal.line("wrote \(p.publicPath) and \(p.secretPath)\(p.role.map { " (\($0.rawValue))" } ?? ""): public key \(p.publicKey)")
        }
        if let allow { Terminal.line("wrote \(allow.path) (\(allow.entries) worker keys)") }
    }
}
