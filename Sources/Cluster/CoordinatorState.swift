import Foundation
import Storage

/// The coordinator's durable state in STATE_DIR/state.sqlite (WAL): which items every student has
/// received, the student roster and what each epoch reported. A coordinator killed with -9 and
/// started again on the same directory rebuilds its queue from here; nothing finished is redone.
public final class CoordinatorState {
    public struct EpochRecord: Codable, Sendable, Equatable {
        public var epoch: Int
        public var replica: Int
        public var samples: Int
        public var trainLoss: Double?
        public var testAccuracy: Double?
        public var seconds: Double?
        enum CodingKeys: String, CodingKey {
            case epoch, replica, samples, seconds
            case trainLoss = "train_loss", testAccuracy = "test_accuracy"
        }
    }

    private let db: SQLiteDatabase
    public let replicas: Int

    /// Opens or creates the state; refuses a directory that holds another job's state.
    public init(directory: String, jobYAML: String, replicas: Int) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        db = try SQLiteDatabase(path: "\(directory)/state.sqlite")
        self.replicas = replicas
        try db.transaction {
            try db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            try db.execute("CREATE TABLE IF NOT EXISTS receipts (item INTEGER NOT NULL, replica INTEGER NOT NULL, at REAL NOT NULL, PRIMARY KEY (item, replica))")
            try db.execute("CREATE TABLE IF NOT EXISTS roster (replica INTEGER PRIMARY KEY, endpoint TEXT NOT NULL UNIQUE)")
            try db.execute("""
                CREATE TABLE IF NOT EXISTS epochs (epoch INTEGER NOT NULL, replica INTEGER NOT NULL, samples INTEGER NOT NULL,
                  train_loss REAL, test_accuracy REAL, seconds REAL, PRIMARY KEY (epoch, replica))
                """)
            let hash = SHA256.hex(Data(jobYAML.utf8))
            if let stored = try db.query("SELECT value FROM meta WHERE key = 'job_sha256'").first?.first?.string {
                guard stored == hash else {
                    throw SQLiteError(db.path, "this state directory belongs to a different job (job file hash \(stored.prefix(12)), this one \(hash.prefix(12))); use a fresh --state", nil)
                }
            } else {
                try db.execute("INSERT INTO meta VALUES ('job_sha256', ?), ('status', 'running'), ('duplicates', '0')", [.text(hash)])
            }
            // Kept across restarts: tokens of assignments still queued at teachers stay valid for the students.
            if try db.query("SELECT value FROM meta WHERE key = 'assignment_key'").isEmpty {
                let key = AssignmentToken.randomKey().map { String(format: "%02x", $0) }.joined()
                try db.execute("INSERT INTO meta VALUES ('assignment_key', ?)", [.text(key)])
            }
        }
    }

    /// The secret that signs this job's work assignments (students check the tokens with it).
    public func assignmentKey() throws -> [UInt8] {
        guard let hex = try db.query("SELECT value FROM meta WHERE key = 'assignment_key'").first?.first?.string,
              hex.count == 64, case let bytes = stride(from: 0, to: 64, by: 2).compactMap({ i -> UInt8? in
                  let start = hex.index(hex.startIndex, offsetBy: i)
                  return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)
              }), bytes.count == 32 else {
            throw SQLiteError(db.path, "the assignment key in the state is missing or damaged", nil)
        }
        return bytes
    }

    /// Items every replica has received.
    public func completedItems() throws -> Set<UInt64> {
        let rows = try db.query("SELECT item FROM receipts GROUP BY item HAVING COUNT(*) = ?", [.integer(Int64(replicas))])
        return Set(rows.compactMap { $0.first?.int.map(UInt64.init) })
    }

    /// Runs `body` as one transaction: every receipt it records is committed (and fsynced) together.
    public func batch<T>(_ body: () throws -> T) throws -> T {
        try db.transaction(body)
    }

    /// Records that `replica` holds `item`; returns whether this was news and whether every replica now has it.
    public func recordReceipt(item: UInt64, replica: Int) throws -> (new: Bool, complete: Bool) {
        try db.transaction {
            try db.execute("INSERT OR IGNORE INTO receipts VALUES (?, ?, ?)", [.integer(Int64(item)), .integer(Int64(replica)), .real(Date().timeIntervalSince1970)])
            let new = db.changes == 1
            if !new { try db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'duplicates'") }
            let count = try db.query("SELECT COUNT(*) FROM receipts WHERE item = ?", [.integer(Int64(item))]).first?.first?.int ?? 0
            return (new, count == replicas)
        }
    }

    public var duplicateReceipts: Int {
        (try? db.query("SELECT value FROM meta WHERE key = 'duplicates'"))?.first?.first?.string.flatMap(Int.init) ?? 0
    }

    public func roster() throws -> [Int: String] {
        var out: [Int: String] = [:]
        for row in try db.query("SELECT replica, endpoint FROM roster") { out[row[0].int!] = row[1].string! }
        return out
    }

    public func addToRoster(replica: Int, endpoint: String) throws {
        try db.execute("INSERT INTO roster VALUES (?, ?)", [.integer(Int64(replica)), .text(endpoint)])
    }

    /// A new student takes over a replica whose holder is gone: it starts from scratch, so what the old one
    /// received no longer counts. Returns the receipts dropped.
    @discardableResult
    public func replaceInRoster(replica: Int, endpoint: String) throws -> Int {
        try db.transaction {
            try db.execute("UPDATE roster SET endpoint = ? WHERE replica = ?", [.text(endpoint), .integer(Int64(replica))])
            try db.execute("DELETE FROM receipts WHERE replica = ?", [.integer(Int64(replica))])
            let dropped = db.changes
            try db.execute("DELETE FROM epochs WHERE replica = ?", [.integer(Int64(replica))])
            return dropped
        }
    }

    public func recordEpoch(_ r: EpochRecord) throws {
        try db.execute("INSERT OR REPLACE INTO epochs VALUES (?, ?, ?, ?, ?, ?)", [
            .integer(Int64(r.epoch)), .integer(Int64(r.replica)), .integer(Int64(r.samples)),
            r.trainLoss.map { .real($0) } ?? .null, r.testAccuracy.map { .real($0) } ?? .null, r.seconds.map { .real($0) } ?? .null,
        ])
    }

    public func epochs() throws -> [EpochRecord] {
        try db.query("SELECT epoch, replica, samples, train_loss, test_accuracy, seconds FROM epochs ORDER BY epoch, replica").map {
            EpochRecord(epoch: $0[0].int!, replica: $0[1].int!, samples: $0[2].int!, trainLoss: $0[3].double,
                        testAccuracy: $0[4].double, seconds: $0[5].double)
        }
    }

    public var status: String {
        (try? db.query("SELECT value FROM meta WHERE key = 'status'"))?.first?.first?.string ?? "running"
    }

    public func setStatus(_ value: String) throws {
        try db.execute("INSERT OR REPLACE INTO meta VALUES ('status', ?)", [.text(value)])
    }
}
