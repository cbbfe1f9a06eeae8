import CDistilleryProto

extension FieldReader {
    /// The envelope's oneof body, with each kind's required fields checked.
    func kind(_ env: Distillery__Envelope) throws -> MessageKind {
        switch env.kind_case {
        case DISTILLERY__ENVELOPE__KIND_HELLO:
            let h = env.hello.pointee
            guard h.has_role != 0, let role = Role(rawValue: h.role.rawValue) else {
                throw WireError(.malformed, "hello: missing or unknown role \(h.role.rawValue)")
            }
            var models: [ModelHash] = []
            for i in 0..<(try count(h.n_models, "hello.models")) {
                guard let m = h.models[i]?.pointee else { throw WireError(.malformed, "hello.models[\(i)] is missing") }
                models.append(ModelHash(member: try identifier(m.member, "hello.models[\(i)].member"),
                                        sha256: try identifier(m.sha256, "hello.models[\(i)].sha256")))
            }
            return .hello(Hello(role: role, models: models, dataEndpoint: try optionalIdentifier(h.data_endpoint, "hello.data_endpoint"),
                                threads: h.has_threads != 0 ? h.threads : nil))
        case DISTILLERY__ENVELOPE__KIND_WELCOME:
            let w = env.welcome.pointee
            return .welcome(Welcome(workerID: try identifier(w.worker_id, "welcome.worker_id"),
                                    leaseMilliseconds: try required(w.has_lease_ms, w.lease_ms, "welcome.lease_ms"),
                                    heartbeatIntervalMilliseconds: try required(w.has_heartbeat_interval_ms, w.heartbeat_interval_ms, "welcome.heartbeat_interval_ms"),
                                    credits: try required(w.has_credits, w.credits, "welcome.credits"),
                                    jobYAML: try text(w.job_yaml, "welcome.job_yaml", maximum: limits.maximumTextBytes, required: false),
                                    jobDirectory: try text(w.job_directory, "welcome.job_directory", maximum: limits.maximumTextBytes, required: false),
                                    replica: w.has_replica != 0 ? w.replica : nil,
                                    peers: try strings(w.n_peers, w.peers, "welcome.peers"),
                                    assignmentKey: w.has_assignment_key != 0 ? try bytes(w.assignment_key, "welcome.assignment_key") : nil,
                                    peerKeys: try strings(w.n_peer_keys, w.peer_keys, "welcome.peer_keys")))
        case DISTILLERY__ENVELOPE__KIND_HEARTBEAT:
            let h = env.heartbeat.pointee
            return .heartbeat(Heartbeat(leaseMilliseconds: h.lease_ms, queueDepth: h.queue_depth, inFlight: h.in_flight))
        case DISTILLERY__ENVELOPE__KIND_WORK_REQUEST:
            let w = env.work_request.pointee
            return .workRequest(credits: try required(w.has_credits, w.credits, "work_request.credits"))
        case DISTILLERY__ENVELOPE__KIND_WORK_ASSIGNMENT:
            let w = env.work_assignment.pointee
            return .workAssignment(WorkAssignment(
                workID: try required(w.has_work_id, w.work_id, "work_assignment.work_id"),
                epoch: try required(w.has_epoch, w.epoch, "work_assignment.epoch"),
                shard: try required(w.has_shard, w.shard, "work_assignment.shard"),
                ranges: try ranges(w.n_ranges, w.ranges, "work_assignment.ranges"),
                member: try identifier(w.member, "work_assignment.member"),
                augmentationSeed: w.augmentation_seed,
                temperature: try temperature(w.has_temperature, w.temperature, "work_assignment.temperature"),
                destinations: try strings(w.n_destinations, w.destinations, "work_assignment.destinations"),
                token: w.has_token != 0 ? try bytes(w.token, "work_assignment.token") : [],
                destinationKeys: try strings(w.n_destination_keys, w.destination_keys, "work_assignment.destination_keys")))
        case DISTILLERY__ENVELOPE__KIND_WORK_DONE:
            let w = env.work_done.pointee
            return .workDone(workID: try required(w.has_work_id, w.work_id, "work_done.work_id"), samples: w.samples)
        case DISTILLERY__ENVELOPE__KIND_SOFT_TARGETS:
            let s = env.soft_targets.pointee
            return .softTargets(SoftTargets(
                workID: try required(s.has_work_id, s.work_id, "soft_targets.work_id"),
                epoch: try required(s.has_epoch, s.epoch, "soft_targets.epoch"),
                shard: try required(s.has_shard, s.shard, "soft_targets.shard"),
                member: try identifier(s.member, "soft_targets.member"),
                temperature: try temperature(s.has_temperature, s.temperature, "soft_targets.temperature"),
                probabilities: s.probabilities != 0,
                ranges: try ranges(s.n_ranges, s.ranges, "soft_targets.ranges"),
                token: s.has_token != 0 ? try bytes(s.token, "soft_targets.token") : []))
        case DISTILLERY__ENVELOPE__KIND_GRADIENTS:
            let g = env.gradients.pointee
            return .gradients(step: try required(g.has_step, g.step, "gradients.step"),
                              replica: try required(g.has_replica, g.replica, "gradients.replica"), samples: g.samples)
        case DISTILLERY__ENVELOPE__KIND_PARAMETERS:
            let p = env.parameters.pointee
            return .parameters(step: try required(p.has_step, p.step, "parameters.step"),
                               spec: try text(p.spec, "parameters.spec", maximum: limits.maximumTextBytes)!)
        case DISTILLERY__ENVELOPE__KIND_CHECKPOINT:
            let c = env.checkpoint.pointee
            return .checkpoint(CheckpointAnnouncement(
                step: try required(c.has_step, c.step, "checkpoint.step"), epoch: c.epoch,
                path: try text(c.path, "checkpoint.path", maximum: limits.maximumTextBytes)!,
                sha256: try optionalIdentifier(c.sha256, "checkpoint.sha256"), isFinal: c.has_final != 0 && c.final != 0))
        case DISTILLERY__ENVELOPE__KIND_PROGRESS:
            let p = env.progress.pointee
            return .progress(Progress(epoch: p.epoch, samplesDone: p.samples_done, samplesTotal: p.samples_total,
                                      loss: p.has_loss != 0 ? p.loss : nil, accuracy: p.has_accuracy != 0 ? p.accuracy : nil,
                                      samplesPerSecond: p.has_samples_per_second != 0 ? p.samples_per_second : nil))
        case DISTILLERY__ENVELOPE__KIND_ERROR:
            let e = env.error.pointee
            guard e.has_code != 0, let code = WireError.Code(rawValue: e.code.rawValue) else {
                throw WireError(.malformed, "error: missing or unknown code \(e.code.rawValue)")
            }
            return .error(code: code, message: try text(e.message, "error.message", maximum: limits.maximumTextBytes)!)
        case DISTILLERY__ENVELOPE__KIND_GOODBYE:
            let g = env.goodbye.pointee
            let n = try count(g.n_returned_work_ids, "goodbye.returned_work_ids")
            var ending: JobEnding?
            if g.has_ending != 0 {
                guard let known = JobEnding(rawValue: g.ending.rawValue) else {
                    throw WireError(.malformed, "goodbye.ending: unknown value \(g.ending.rawValue)")
                }
                ending = known
            }
            return .goodbye(Goodbye(reason: try text(g.reason, "goodbye.reason", maximum: limits.maximumTextBytes, required: false) ?? "",
                                    returnedWorkIDs: (0..<n).map { g.returned_work_ids[$0] }, ending: ending))
        case DISTILLERY__ENVELOPE__KIND_STATUS_REQUEST:
            return .statusRequest
        case DISTILLERY__ENVELOPE__KIND_STATUS_REPLY:
            return .statusReply(json: try text(env.status_reply.pointee.json, "status_reply.json", maximum: limits.maximumTextBytes)!)
        case DISTILLERY__ENVELOPE__KIND__NOT_SET:
            throw WireError(.unknownKind, "envelope has no kind")
        default:
            throw WireError(.unknownKind, "unknown message kind \(env.kind_case.rawValue)")
        }
    }

    private func temperature(_ has: protobuf_c_boolean, _ value: Float, _ field: String) throws -> Float {
        let t = try required(has, value, field)
        guard t.isFinite, t > 0 else { throw WireError(.malformed, "\(field) must be a positive finite number, got \(t)") }
        return t
    }
}
