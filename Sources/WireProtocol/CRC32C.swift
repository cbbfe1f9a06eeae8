import CChecksum

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), in hardware where the CPU has SSE4.2.
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        cchecksum_crc32c(0, bytes.baseAddress, bytes.count)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
