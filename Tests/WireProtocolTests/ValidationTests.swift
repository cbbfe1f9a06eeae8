import CDistilleryProto
import Testing
@testable import WireProtocol

/// Every validation rule, each with an input that breaks exactly it.
@Suite struct ValidationTests {
    let valid = Envelope(jobID: "job", sender: "s", kind: .workRequest(credits: 1))

    /// Packs a hand-built C envelope, for inputs our encoder would never produce.
    func pack(_ configure: (inout Distillery__Envelope) -> Void) -> [UInt8] {
        var env = Distillery__Envelope()
        distillery__envelope__init(&env)
        env.has_version = 1
        env.version = Envelope.currentVersion
        let job = strdup("job"), sender = strdup("s")
        defer { free(job); free(sender) }
        env.job_id = job
        env.sender = sender
        var request = Distillery__WorkRequest()
        distillery__work_request__init(&request)
        request.has_credits = 1
        request.credits = 1
        return withUnsafeMutablePointer(to: &request) { r in
            env.kind_case = DISTILLERY__ENVELOPE__KIND_WORK_REQUEST
            env.work_request = r
            configure(&env)
            var out = [UInt8](repeating: 0, count: distillery__envelope__get_packed_size(&env))
            _ = distillery__envelope__pack(&env, &out)
            return out
        }
    }

    func expectRejected(_ bytes: [UInt8], _ code: WireError.Code, _ fragment: String, limits: WireLimits = .standard) {
        do {
            let e = try EnvelopeDecoder.decode(bytes, limits: limits)
            Issue.record("accepted \(e), expected \(code): \(fragment)")
        } catch let error as WireError {
            #expect(error.code == code, "\(error)")
            #expect(error.message.contains(fragment), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func theHandBuiltBaselineIsValid() throws {
        #expect(try EnvelopeDecoder.decode(pack { _ in }) == valid)
    }

    @Test func sizeAndParsing() {
        expectRejected([], .malformed, "empty")
        var small = WireLimits()
        small.maximumHeaderBytes = 8
        expectRejected(EnvelopeEncoder.encode(valid), .malformed, "exceeds the 8-byte limit", limits: small)
        expectRejected([0xFF, 0xFF, 0xFF], .malformed, "does not parse")
        let bytes = EnvelopeEncoder.encode(valid)
        expectRejected(Array(bytes.dropLast(1)), .malformed, "parse")
    }

    @Test func versionKindAndRequiredFields() {
        expectRejected(pack { $0.version = 1 }, .unsupportedVersion, "protocol version 1")
        expectRejected(pack { $0.has_version = 0 }, .malformed, "no version")
        expectRejected(pack { $0.kind_case = DISTILLERY__ENVELOPE__KIND__NOT_SET }, .unknownKind, "no kind")
        expectRejected(pack { $0.job_id = nil }, .malformed, "job_id")
        expectRejected(pack { $0.work_request.pointee.has_credits = 0 }, .malformed, "work_request.credits")
        // A kind from a newer peer arrives as an unknown field: no kind we know.
        var future = EnvelopeEncoder.encode(Envelope(jobID: "job", sender: "s", kind: .statusRequest))
        let statusTag = UInt8(23 << 3 | 2)
        if let i = future.firstIndex(of: statusTag) { future[i] = UInt8(30 << 3 | 2) }
        expectRejected(future, .unknownKind, "no kind")
    }

    @Test func enumValuesOutsideTheSchema() {
        var hello = Distillery__Hello()
        distillery__hello__init(&hello)
        hello.has_role = 1
        hello.role = Distillery__Role(rawValue: 77)
        let bytes = withUnsafeMutablePointer(to: &hello) { h in
            pack { $0.kind_case = DISTILLERY__ENVELOPE__KIND_HELLO; $0.hello = h }
        }
        expectRejected(bytes, .malformed, "unknown role 77")
    }

    @Test func stringsMustBeUTF8WithinLimitsAndWhole() {
        let invalid: [CChar] = [0x61, -1, -2, 0]  // "a\xFF\xFE"
        let bad = invalid.withUnsafeBufferPointer { p in pack { $0.sender = UnsafeMutablePointer(mutating: p.baseAddress) } }
        expectRejected(bad, .malformed, "sender is not valid UTF-8")
        let long = String(repeating: "x", count: 300)
        expectRejected(EnvelopeEncoder.encode(Envelope(jobID: long, sender: "s", kind: .statusRequest)), .malformed, "over the 256-byte limit")
        expectRejected(EnvelopeEncoder.encode(Envelope(jobID: "", sender: "s", kind: .statusRequest)), .malformed, "job_id is empty")
        // An embedded NUL would silently cut the string short in C: the canonical-size check refuses it.
        var bytes = EnvelopeEncoder.encode(Envelope(jobID: "job-one", sender: "s", kind: .statusRequest))
        let j = bytes.firstIndex(of: UInt8(ascii: "-"))!
        bytes[j] = 0
        expectRejected(bytes, .malformed, "canonical")
    }

    @Test func tensorDescriptorsAreCheckedAgainstTheirBytes() {
        func withTensor(_ d: TensorDescriptor) -> [UInt8] {
            EnvelopeEncoder.encode(Envelope(jobID: "job", sender: "s", kind: .gradients(step: 1, replica: 0, samples: 1), tensors: [d]))
        }
        let good = WireTensor(name: "w", values: [1, 2, 3, 4, 5, 6], shape: [2, 3]).descriptor
        var d = good
        d.byteLength = 20
        expectRejected(withTensor(d), .invalidTensor, "does not make 20 bytes")
        d = good
        d.shape = [1, 1, 1, 1, 1, 1, 1, 1, 1]
        expectRejected(withTensor(d), .invalidTensor, "rank 9")
        d = good
        d.shape = [Int(Int32.max), Int(Int32.max), Int(Int32.max)]
        expectRejected(withTensor(d), .invalidTensor, "does not make")
        d = good
        d.dtype = .int8
        d.byteLength = 6
        expectRejected(withTensor(d), .invalidTensor, "int8 needs a positive finite scale")
        d = good
        d.encoding = .topK(5)
        expectRejected(withTensor(d), .invalidTensor, "top-k")
        var small = WireLimits()
        small.maximumTensorBytes = 16
        expectRejected(withTensor(good), .invalidTensor, "exceed the 16-byte limit", limits: small)
        var many = WireLimits()
        many.maximumTensors = 1
        expectRejected(EnvelopeEncoder.encode(Envelope(jobID: "job", sender: "s", kind: .statusRequest, tensors: [good, good])),
                       .malformed, "exceed the limit of 1", limits: many)
        // A negative dimension, which our encoder cannot produce, from a hand-built descriptor.
        var c = Distillery__TensorDescriptor()
        distillery__tensor_descriptor__init(&c)
        let name = strdup("w")
        defer { free(name) }
        var dims: [Int64] = [-2, -3]
        c.name = name
        c.has_dtype = 1; c.dtype = DISTILLERY__DTYPE__DTYPE_FLOAT32
        c.has_byte_length = 1; c.byte_length = 24
        c.has_crc32c = 1; c.has_encoding = 1; c.encoding = DISTILLERY__TENSOR_ENCODING__TENSOR_ENCODING_DENSE
        let negative = dims.withUnsafeMutableBufferPointer { shape in
            c.n_shape = 2
            c.shape = shape.baseAddress
            return withUnsafeMutablePointer(to: &c) { cp in
                var list: [UnsafeMutablePointer<Distillery__TensorDescriptor>?] = [cp]
                return list.withUnsafeMutableBufferPointer { l in pack { $0.n_tensors = 1; $0.tensors = l.baseAddress } }
            }
        }
        expectRejected(negative, .invalidTensor, "dimension 0 is -2")
    }

    @Test func unpackingIsBudgeted() {
        // Thousands of empty descriptors: two bytes each packed, far more unpacked.
        var bytes = EnvelopeEncoder.encode(valid)
        for _ in 0..<20_000 { bytes += [0x22, 0x00] }
        var limits = WireLimits()
        limits.maximumHeaderBytes = 1 << 20
        limits.unpackBudgetBytes = 256 * 1024
        expectRejected(bytes, .malformed, "unpacking it exceeded 262144 bytes", limits: limits)
    }

    @Test func framesAreCheckedBySizeAndChecksum() throws {
        let t = WireTensor(name: "w", values: [1, 2, 3, 4], shape: [4])
        var frame = t.frame
        #expect(try frame.withUnsafeBytes { try WireTensor.decode(t.descriptor, frame: $0) } == [1, 2, 3, 4])
        frame[5] ^= 0x40
        #expect(throws: WireError(.checksum, "tensor 'w': CRC-32C \(CRC32C.checksum(frame)) != \(t.descriptor.crc32c)")) {
            try frame.withUnsafeBytes { try WireTensor.decode(t.descriptor, frame: $0) }
        }
        #expect(throws: WireError.self) { try t.frame.dropLast().withUnsafeBytes { try WireTensor.decode(t.descriptor, frame: $0) } }
    }
}

#if canImport(Glibc)
import Glibc
#endif
