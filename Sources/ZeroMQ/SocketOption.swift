import CZeroMQ

/// The socket options the cluster uses, typed.
public enum SocketOption: Sendable {
    /// Milliseconds unsent messages are kept after close (0: drop at once; the default here).
    case linger(Int32)
    case sendHighWaterMark(Int32)
    case receiveHighWaterMark(Int32)
    /// Peers sending a larger message are disconnected (-1: no limit).
    case maxMessageSize(Int64)
    /// ZMTP heartbeats: ping interval, timeout for the reply, and the TTL announced to the peer, in ms.
    case heartbeat(interval: Int32, timeout: Int32, ttl: Int32)
    case reconnectInterval(Int32, maximum: Int32)
    /// TCP keepalive with idle and interval seconds.
    case tcpKeepalive(idle: Int32, interval: Int32)
    case routingID(String)
    /// ROUTER: fail with EHOSTUNREACH instead of silently dropping messages to unknown peers.
    case routerMandatory(Bool)
    /// ROUTER: a peer connecting with a routing id already in use takes it over (a reconnect).
    case routerHandover(Bool)
    /// Queue messages only to completed connections.
    case immediate(Bool)
    case receiveTimeout(Int32)
    case sendTimeout(Int32)
    /// CURVE server with its secret key (Z85).
    case curveServer(secretKey: String)
    /// CURVE client: the server's public key and our keypair (Z85).
    case curveClient(serverKey: String, publicKey: String, secretKey: String)
    /// The ZAP domain the socket's connections are authenticated in.
    case zapDomain(String)
    case subscribe(String)
}

extension Socket {
    public func set(_ option: SocketOption) throws {
        switch option {
        case let .linger(v): try setInt(ZMQ_LINGER, v, "linger")
        case let .sendHighWaterMark(v): try setInt(ZMQ_SNDHWM, v, "sndhwm")
        case let .receiveHighWaterMark(v): try setInt(ZMQ_RCVHWM, v, "rcvhwm")
        case let .maxMessageSize(v):
            var value = v
            try check(zmq_setsockopt(handle, ZMQ_MAXMSGSIZE, &value, MemoryLayout<Int64>.size), "maxmsgsize")
        case let .heartbeat(interval, timeout, ttl):
            try setInt(ZMQ_HEARTBEAT_IVL, interval, "heartbeat_ivl")
            try setInt(ZMQ_HEARTBEAT_TIMEOUT, timeout, "heartbeat_timeout")
            try setInt(ZMQ_HEARTBEAT_TTL, ttl, "heartbeat_ttl")
        case let .reconnectInterval(v, maximum):
            try setInt(ZMQ_RECONNECT_IVL, v, "reconnect_ivl")
            try setInt(ZMQ_RECONNECT_IVL_MAX, maximum, "reconnect_ivl_max")
        case let .tcpKeepalive(idle, interval):
            try setInt(ZMQ_TCP_KEEPALIVE, 1, "tcp_keepalive")
            try setInt(ZMQ_TCP_KEEPALIVE_IDLE, idle, "tcp_keepalive_idle")
            try setInt(ZMQ_TCP_KEEPALIVE_INTVL, interval, "tcp_keepalive_intvl")
        case let .routingID(id): try setString(ZMQ_ROUTING_ID, id, "routing_id")
        case let .routerMandatory(on): try setInt(ZMQ_ROUTER_MANDATORY, on ? 1 : 0, "router_mandatory")
        case let .routerHandover(on): try setInt(ZMQ_ROUTER_HANDOVER, on ? 1 : 0, "router_handover")
        case let .immediate(on): try setInt(ZMQ_IMMEDIATE, on ? 1 : 0, "immediate")
        case let .receiveTimeout(v): try setInt(ZMQ_RCVTIMEO, v, "rcvtimeo")
        case let .sendTimeout(v): try setInt(ZMQ_SNDTIMEO, v, "sndtimeo")
        case let .curveServer(secret):
            try setInt(ZMQ_CURVE_SERVER, 1, "curve_server")
            try setString(ZMQ_CURVE_SECRETKEY, secret, "curve_secretkey")
        case let .curveClient(server, publicKey, secret):
            try setString(ZMQ_CURVE_SERVERKEY, server, "curve_serverkey")
            try setString(ZMQ_CURVE_PUBLICKEY, publicKey, "curve_publickey")
            try setString(ZMQ_CURVE_SECRETKEY, secret, "curve_secretkey")
        case let .zapDomain(domain): try setString(ZMQ_ZAP_DOMAIN, domain, "zap_domain")
        case let .subscribe(prefix): try setString(ZMQ_SUBSCRIBE, prefix, "subscribe")
        }
    }

    private func setInt(_ name: Int32, _ value: Int32, _ label: String) throws {
        var v = value
        try check(zmq_setsockopt(handle, name, &v, MemoryLayout<Int32>.size), "setsockopt \(label)")
    }

    private func setString(_ name: Int32, _ value: String, _ label: String) throws {
        let bytes = Array(value.utf8)
        try check(bytes.withUnsafeBytes { zmq_setsockopt(handle, name, $0.baseAddress, bytes.count) }, "setsockopt \(label)")
    }
}
