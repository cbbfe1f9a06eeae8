import CDistilleryProto
import ProtobufSupport

/// Packs an `Envelope` into the bytes of frame 1.
public enum EnvelopeEncoder {
    public static func encode(_ envelope: Envelope) -> [UInt8] {
        let arena = CArena()
        var env = Distillery__Envelope()
        distillery__envelope__init(&env)
        env.has_version = 1
        env.version = envelope.version
        env.job_id = arena.string(envelope.jobID)
        env.sender = arena.string(envelope.sender)
        env.n_tensors = envelope.tensors.count
        env.tensors = arena.array(envelope.tensors.map { Optional(arena.new(descriptor($0, arena))) })
        setKind(&env, envelope.kind, arena)
        let size = withUnsafePointer(to: &env) { distillery__envelope__get_packed_size($0) }
        var out = [UInt8](repeating: 0, count: size)
        out.withUnsafeMutableBufferPointer { buffer in
            withUnsafePointer(to: &env) { _ = distillery__envelope__pack($0, buffer.baseAddress) }
        }
        return out
    }

    private static func descriptor(_ t: TensorDescriptor, _ arena: CArena) -> Distillery__TensorDescriptor {
        var d = Distillery__TensorDescriptor()
        distillery__tensor_descriptor__init(&d)
        d.name = arena.string(t.name)
        d.has_dtype = 1
        d.dtype = Distillery__DType(rawValue: t.dtype.rawValue)
        d.n_shape = t.shape.count
        d.shape = arena.array(t.shape.map(Int64.init))
        d.has_byte_length = 1
        d.byte_length = UInt64(t.byteLength)
        d.has_crc32c = 1
        d.crc32c = t.crc32c
        d.has_encoding = 1
        switch t.encoding {
        case .dense:
            d.encoding = DISTILLERY__TENSOR_ENCODING__TENSOR_ENCODING_DENSE
        case let .topK(k):
            d.encoding = DISTILLERY__TENSOR_ENCODING__TENSOR_ENCODING_TOP_K
            d.has_top_k = 1
            d.top_k = UInt32(k)
        }
        if let scale = t.scale { d.has_scale = 1; d.scale = scale }
        return d
    }

    /// A protobuf-c `bytes` value over a copy of `values` in the arena.
    private static func bytes(_ arena: CArena, _ values: [UInt8]) -> ProtobufCBinaryData {
        ProtobufCBinaryData(len: values.count, data: arena.array(values))
    }

    private static func ranges(_ values: [ShardRange], _ arena: CArena) -> UnsafeMutablePointer<UnsafeMutablePointer<Distillery__ShardRange>?>? {
        arena.array(values.map { r -> UnsafeMutablePointer<Distillery__ShardRange>? in
            var c = Distillery__ShardRange()
            distillery__shard_range__init(&c)
            c.has_begin = 1; c.begin = r.begin
            c.has_end = 1; c.end = r.end
            return arena.new(c)
        })
    }

    private static func setKind(_ env: inout Distillery__Envelope, _ kind: MessageKind, _ arena: CArena) {
        switch kind {
        case let .hello(h):
            var c = Distillery__Hello()
            distillery__hello__init(&c)
            c.has_role = 1; c.role = Distillery__Role(rawValue: h.role.rawValue)
            c.n_models = h.models.count
            c.models = arena.array(h.models.map { m -> UnsafeMutablePointer<Distillery__ModelHash>? in
                var mh = Distillery__ModelHash()
                distillery__model_hash__init(&mh)
                mh.member = arena.string(m.member)
                mh.sha256 = arena.string(m.sha256)
                return arena.new(mh)
            })
            c.data_endpoint = arena.optionalString(h.dataEndpoint)
            if let t = h.threads { c.has_threads = 1; c.threads = t }
            env.kind_case = DISTILLERY__ENVELOPE__KIND_HELLO
            env.hello = arena.new(c)
        case let .welcome(w):
            var c = Distillery__Welcome()
            distillery__welcome__init(&c)
            c.worker_id = arena.string(w.workerID)
            c.has_lease_ms = 1; c.lease_ms = w.leaseMilliseconds
            c.has_heartbeat_interval_ms = 1; c.heartbeat_interval_ms = w.heartbeatIntervalMilliseconds
            c.has_credits = 1; c.credits = w.credits
            c.job_yaml = arena.optionalString(w.jobYAML)
            c.job_directory = arena.optionalString(w.jobDirectory)
            if let r = w.replica { c.has_replica = 1; c.replica = r }
            c.n_peers = w.peers.count; c.peers = arena.strings(w.peers)
            if let key = w.assignmentKey { c.has_assignment_key = 1; c.assignment_key = bytes(arena, key) }
            c.n_peer_keys = w.peerKeys.count; c.peer_keys = arena.strings(w.peerKeys)
            env.kind_case = DISTILLERY__ENVELOPE__KIND_WELCOME
            env.welcome = arena.new(c)
        case let .heartbeat(h):
            var c = Distillery__Heartbeat()
            distillery__heartbeat__init(&c)
            c.has_lease_ms = 1; c.lease_ms = h.leaseMilliseconds
            c.has_queue_depth = 1; c.queue_depth = h.queueDepth
            c.has_in_flight = 1; c.in_flight = h.inFlight
            env.kind_case = DISTILLERY__ENVELOPE__KIND_HEARTBEAT
            env.heartbeat = arena.new(c)
        case let .workRequest(credits):
            var c = Distillery__WorkRequest()
            distillery__work_request__init(&c)
            c.has_credits = 1; c.credits = credits
            env.kind_case = DISTILLERY__ENVELOPE__KIND_WORK_REQUEST
            env.work_request = arena.new(c)
        case let .workAssignment(w):
            var c = Distillery__WorkAssignment()
            distillery__work_assignment__init(&c)
            c.has_work_id = 1; c.work_id = w.workID
            c.has_epoch = 1; c.epoch = w.epoch
            c.has_shard = 1; c.shard = w.shard
            c.n_ranges = w.ranges.count; c.ranges = ranges(w.ranges, arena)
            c.member = arena.string(w.member)
            c.has_augmentation_seed = 1; c.augmentation_seed = w.augmentationSeed
            c.has_temperature = 1; c.temperature = w.temperature
            c.n_destinations = w.destinations.count; c.destinations = arena.strings(w.destinations)
            if !w.token.isEmpty { c.has_token = 1; c.token = bytes(arena, w.token) }
            c.n_destination_keys = w.destinationKeys.count; c.destination_keys = arena.strings(w.destinationKeys)
            env.kind_case = DISTILLERY__ENVELOPE__KIND_WORK_ASSIGNMENT
            env.work_assignment = arena.new(c)
        case let .workDone(workID, samples):
            var c = Distillery__WorkDone()
            distillery__work_done__init(&c)
            c.has_work_id = 1; c.work_id = workID
            c.has_samples = 1; c.samples = samples
            env.kind_case = DISTILLERY__ENVELOPE__KIND_WORK_DONE
            env.work_done = arena.new(c)
        case let .softTargets(s):
            var c = Distillery__SoftTargets()
            distillery__soft_targets__init(&c)
            c.has_work_id = 1; c.work_id = s.workID
            c.has_epoch = 1; c.epoch = s.epoch
            c.has_shard = 1; c.shard = s.shard
            c.member = arena.string(s.member)
            c.has_temperature = 1; c.temperature = s.temperature
            c.has_probabilities = 1; c.probabilities = s.probabilities ? 1 : 0
            c.n_ranges = s.ranges.count; c.ranges = ranges(s.ranges, arena)
            if !s.token.isEmpty { c.has_token = 1; c.token = bytes(arena, s.token) }
            env.kind_case = DISTILLERY__ENVELOPE__KIND_SOFT_TARGETS
            env.soft_targets = arena.new(c)
        case let .gradients(step, replica, samples):
            var c = Distillery__Gradients()
            distillery__gradients__init(&c)
            c.has_step = 1; c.step = step
            c.has_replica = 1; c.replica = replica
            c.has_samples = 1; c.samples = samples
            env.kind_case = DISTILLERY__ENVELOPE__KIND_GRADIENTS
            env.gradients = arena.new(c)
        case let .parameters(step, spec):
            var c = Distillery__Parameters()
            distillery__parameters__init(&c)
            c.has_step = 1; c.step = step
            c.spec = arena.string(spec)
            env.kind_case = DISTILLERY__ENVELOPE__KIND_PARAMETERS
            env.parameters = arena.new(c)
        case let .checkpoint(a):
            var c = Distillery__CheckpointAnnouncement()
            distillery__checkpoint_announcement__init(&c)
            c.has_step = 1; c.step = a.step
            c.has_epoch = 1; c.epoch = a.epoch
            c.path = arena.string(a.path)
            c.sha256 = arena.optionalString(a.sha256)
            if a.isFinal { c.has_final = 1; c.final = 1 }
            env.kind_case = DISTILLERY__ENVELOPE__KIND_CHECKPOINT
            env.checkpoint = arena.new(c)
        case let .progress(p):
            var c = Distillery__Progress()
            distillery__progress__init(&c)
            c.has_epoch = 1; c.epoch = p.epoch
            c.has_samples_done = 1; c.samples_done = p.samplesDone
            c.has_samples_total = 1; c.samples_total = p.samplesTotal
            if let v = p.loss { c.has_loss = 1; c.loss = v }
            if let v = p.accuracy { c.has_accuracy = 1; c.accuracy = v }
            if let v = p.samplesPerSecond { c.has_samples_per_second = 1; c.samples_per_second = v }
            env.kind_case = DISTILLERY__ENVELOPE__KIND_PROGRESS
            env.progress = arena.new(c)
        case let .error(code, message):
            var c = Distillery__Error()
            distillery__error__init(&c)
            c.has_code = 1; c.code = Distillery__Error__Code(rawValue: code.rawValue)
            c.message = arena.string(message)
            env.kind_case = DISTILLERY__ENVELOPE__KIND_ERROR
            env.error = arena.new(c)
        case let .goodbye(g):
            var c = Distillery__Goodbye()
            distillery__goodbye__init(&c)
            c.reason = arena.string(g.reason)
            c.n_returned_work_ids = g.returnedWorkIDs.count; c.returned_work_ids = arena.array(g.returnedWorkIDs)
            if let ending = g.ending { c.has_ending = 1; c.ending = Distillery__Ending(rawValue: ending.rawValue) }
            env.kind_case = DISTILLERY__ENVELOPE__KIND_GOODBYE
            env.goodbye = arena.new(c)
        case .statusRequest:
            var c = Distillery__StatusRequest()
            distillery__status_request__init(&c)
            env.kind_case = DISTILLERY__ENVELOPE__KIND_STATUS_REQUEST
            env.status_request = arena.new(c)
        case let .statusReply(json):
            var c = Distillery__StatusReply()
            distillery__status_reply__init(&c)
            c.json = arena.string(json)
            env.kind_case = DISTILLERY__ENVELOPE__KIND_STATUS_REPLY
            env.status_reply = arena.new(c)
        }
    }
}
