/// Just enough of the zip format to read NumPy's .npz: the central directory (with zip64 extensions,
/// which numpy always writes), stored and deflated entries, CRC-checked.
struct ZipArchive {
    struct Entry {
        var name: String
        var method: UInt16
        var crc: UInt32
        var compressedSize: Int
        var size: Int
        var localHeaderOffset: Int
    }

    let bytes: [UInt8]
    let source: String
    private(set) var entries: [Entry] = []

    init(_ bytes: [UInt8], source: String) throws {
        self.bytes = bytes
        self.source = source
        entries = try readCentralDirectory()
    }

    private func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
    private func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
    private func u64(_ o: Int) -> Int { u32(o) | u32(o + 4) << 32 }

    private func fail(_ problem: String) -> DatasetError { DatasetError(source, problem) }

    private func readCentralDirectory() throws -> [Entry] {
        let eocdSize = 22
        guard bytes.count >= eocdSize else { throw fail("truncated: too short for a zip archive") }
        let lowest = max(0, bytes.count - eocdSize - 65_535)
        guard let eocd = stride(from: bytes.count - eocdSize, through: lowest, by: -1).first(where: { u32($0) == 0x0605_4b50 }) else {
            throw fail("not a zip archive (no end-of-central-directory record): truncated or not an .npz")
        }
        var count = u16(eocd + 10)
        var size = u32(eocd + 12)
        var offset = u32(eocd + 16)
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            let locator = eocd - 20
            guard locator >= 0, u32(locator) == 0x0706_4b50 else { throw fail("zip64 archive without its locator") }
            let record = u64(locator + 8)
            guard record >= 0, record + 56 <= bytes.count, u32(record) == 0x0606_4b50 else {
                throw fail("zip64 end-of-central-directory record missing")
            }
            count = u64(record + 32)
            size = u64(record + 40)
            offset = u64(record + 48)
        }
        guard offset >= 0, size >= 0, offset + size <= bytes.count else { throw fail("central directory lies outside the file") }
        var entries: [Entry] = []
        var p = offset
        for _ in 0..<count {
            guard p + 46 <= bytes.count, u32(p) == 0x0201_4b50 else { throw fail("corrupt central directory") }
            let nameLength = u16(p + 28), extraLength = u16(p + 30), commentLength = u16(p + 32)
            guard p + 46 + nameLength + extraLength <= bytes.count else { throw fail("corrupt central directory") }
            let name = String(decoding: bytes[(p + 46)..<(p + 46 + nameLength)], as: UTF8.self)
            var entry = Entry(name: name, method: UInt16(u16(p + 10)), crc: UInt32(u32(p + 16)),
                              compressedSize: u32(p + 20), size: u32(p + 24), localHeaderOffset: u32(p + 42))
            try applyZip64Extra(&entry, extra: (p + 46 + nameLength)..<(p + 46 + nameLength + extraLength))
            entries.append(entry)
            p += 46 + nameLength + extraLength + commentLength
        }
        return entries
    }

    /// Fields saturated at 0xFFFFFFFF are found, in order, in the zip64 extra field (id 0x0001).
    private func applyZip64Extra(_ entry: inout Entry, extra: Range<Int>) throws {
        var p = extra.lowerBound
        while p + 4 <= extra.upperBound {
            let id = u16(p), length = u16(p + 2)
            if id == 0x0001 {
                var q = p + 4
                func next() throws -> Int {
                    guard q + 8 <= p + 4 + length else { throw fail("entry \(entry.name): short zip64 extra field") }
                    defer { q += 8 }
                    return u64(q)
                }
                if entry.size == 0xFFFF_FFFF { entry.size = try next() }
                if entry.compressedSize == 0xFFFF_FFFF { entry.compressedSize = try next() }
                if entry.localHeaderOffset == 0xFFFF_FFFF { entry.localHeaderOffset = try next() }
            }
            p += 4 + length
        }
    }

    /// The decompressed bytes of `name`, checked against the stored CRC-32.
    func contents(of name: String) throws -> [UInt8]? {
        guard let e = entries.first(where: { $0.name == name }) else { return nil }
        let where_ = "\(source) [\(name)]"
        let h = e.localHeaderOffset
        guard h >= 0, h + 30 <= bytes.count, u32(h) == 0x0403_4b50 else {
            throw DatasetError(where_, "local header missing: corrupt archive")
        }
        let start = h + 30 + u16(h + 26) + u16(h + 28)
        guard e.compressedSize >= 0, e.size >= 0, start + e.compressedSize <= bytes.count else {
            throw DatasetError(where_, "truncated: entry data runs past the end of the file")
        }
        let raw = bytes[start..<(start + e.compressedSize)]
        let data: [UInt8]
        switch e.method {
        case 0: data = Array(raw)
        case 8: data = try Inflate.rawInflate(raw, expectedSize: e.size, source: where_)
        default: throw DatasetError(where_, "unsupported zip compression method \(e.method)")
        }
        guard Inflate.crc32(data) == e.crc else { throw DatasetError(where_, "CRC mismatch: corrupt archive") }
        return data
    }
}
