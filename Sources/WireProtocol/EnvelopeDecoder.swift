import CDistilleryProto
#if canImport(Glibc)
import Glibc
#endif

/// Unpacks and validates frame 1; every failure is a `WireError`. Parsing is not validation: protobuf-c accepts empty buffers, unknown enum
/// values, missing fields and truncated strings, so every rule is checked here before a value is returned.
public enum EnvelopeDecoder {
    public static func decode(_ bytes: UnsafeRawBufferPointer, limits: WireLimits = .standard) throws -> Envelope {
        guard !bytes.isEmpty else { throw WireError(.malformed, "empty envelope frame") }
        guard bytes.count <= limits.maximumHeaderBytes else {
            throw WireError(.malformed, "envelope of \(bytes.count) bytes exceeds the \(limits.maximumHeaderBytes)-byte limit")
        }
        let budget = UnpackBudget(bytes: limits.unpackBudgetBytes)
        let result: Result<Envelope, WireError> = budget.withAllocator { allocator in
            guard let message = distillery__envelope__unpack(allocator, bytes.count, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)) else {
                return .failure(WireError(.malformed, "envelope does not parse (or unpacking it exceeded \(limits.unpackBudgetBytes) bytes)"))
            }
            defer { distillery__envelope__free_unpacked(message, allocator) }
            // Re-packing must give back exactly what arrived: this catches strings cut short by an embedded
            // NUL, overlong encodings and anything else the parser silently normalised.
            guard distillery__envelope__get_packed_size(message) == bytes.count else {
                return .failure(WireError(.malformed, "envelope is not in canonical encoding (embedded NUL, overlong or duplicated fields)"))
            }
            do {
                return .success(try convert(message.pointee, limits))
            } catch {
                return .failure(error as? WireError ?? WireError(.internalError, "\(error)"))
            }
        }
        return try result.get()
    }

    public static func decode(_ bytes: [UInt8], limits: WireLimits = .standard) throws -> Envelope {
        try bytes.withUnsafeBytes { try decode($0, limits: limits) }
    }

    private static func convert(_ env: Distillery__Envelope, _ limits: WireLimits) throws -> Envelope {
        guard env.has_version != 0 else { throw WireError(.malformed, "envelope has no version") }
        guard env.version == Envelope.currentVersion else {
            throw WireError(.unsupportedVersion, "protocol version \(env.version); this build speaks \(Envelope.currentVersion)")
        }
        let reader = FieldReader(limits: limits)
        let jobID = try reader.identifier(env.job_id, "job_id")
        let sender = try reader.identifier(env.sender, "sender")
        guard env.n_tensors <= limits.maximumTensors else {
            throw WireError(.malformed, "\(env.n_tensors) tensors exceed the limit of \(limits.maximumTensors)")
        }
        var tensors: [TensorDescriptor] = []
        for i in 0..<env.n_tensors {
            guard let d = env.tensors[i] else { throw WireError(.malformed, "tensor \(i) is missing") }
            tensors.append(try reader.tensor(d.pointee, index: i))
        }
        let kind = try reader.kind(env)
        return Envelope(jobID: jobID, sender: sender, kind: kind, tensors: tensors, version: env.version)
    }
}
