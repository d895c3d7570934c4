import BenchStatistics
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The daemon operations scripts/bench drives, with the raw operation
/// (p11kms-hsmbench) that is their HSM work.
struct DaemonOperation: Sendable {
    let key: String
    let name: String
    let target: String
    let rawOp: String
    let needsKey: Bool

    static let all: [DaemonOperation] = [
        DaemonOperation(key: "encrypt", name: "Encrypt 256 B", target: "Encrypt", rawOp: "aes-gcm-encrypt", needsKey: true),
        DaemonOperation(key: "decrypt", name: "Decrypt 256 B", target: "Decrypt", rawOp: "aes-gcm-decrypt", needsKey: true),
        DaemonOperation(key: "generate-data-key", name: "GenerateDataKey AES_256", target: "GenerateDataKey",
                        rawOp: "data-key", needsKey: true),
        DaemonOperation(key: "sign-ecdsa", name: "Sign ECDSA_SHA_256", target: "Sign", rawOp: "ecdsa-sign", needsKey: true),
        DaemonOperation(key: "sign-rsa", name: "Sign RSASSA_PKCS1_V1_5_SHA_256", target: "Sign", rawOp: "rsa-sign", needsKey: true),
        DaemonOperation(key: "generate-mac", name: "GenerateMac HMAC_SHA_256 256 B", target: "GenerateMac", rawOp: "hmac",
                        needsKey: true),
        DaemonOperation(key: "generate-random", name: "GenerateRandom 32 B", target: "GenerateRandom", rawOp: "random",
                        needsKey: false),
    ]

    static let message256 = Data((0..<256).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }).base64EncodedString()

    /// The request body for one key (setup may need the daemon, for Decrypt).
    func body(keyID: String?, setup: Connection) throws -> String {
        let k = keyID ?? ""
        switch key {
        case "encrypt": return #"{"KeyId":"\#(k)","Plaintext":"\#(Self.message256)"}"#
        case "decrypt":
            let r = try setup.call("Encrypt", #"{"KeyId":"\#(k)","Plaintext":"\#(Self.message256)"}"#)
            guard let blob = r["CiphertextBlob"] as? String else { throw LoadError("Encrypt returned no CiphertextBlob") }
            return #"{"CiphertextBlob":"\#(blob)"}"#
        case "generate-data-key": return #"{"KeyId":"\#(k)","KeySpec":"AES_256"}"#
        case "sign-ecdsa":
            return #"{"KeyId":"\#(k)","Message":"\#(Self.message256)","MessageType":"RAW","SigningAlgorithm":"ECDSA_SHA_256"}"#
        case "sign-rsa":
            return #"{"KeyId":"\#(k)","Message":"\#(Self.message256)","MessageType":"RAW","SigningAlgorithm":"RSASSA_PKCS1_V1_5_SHA_256"}"#
        case "generate-mac":
            return #"{"KeyId":"\#(k)","Message":"\#(Self.message256)","MacAlgorithm":"HMAC_SHA_256"}"#
        case "generate-random": return #"{"NumberOfBytes":32}"#
        default: throw LoadError("unknown operation \(key)")
        }
    }
}

/// One connection's samples; read by the main thread after the threads end.
final class ConnectionResult: @unchecked Sendable {
    var latencies: [UInt64] = []
    var errors = 0
    var firstError: String?
    func fail(_ message: String) {
        errors += 1
        if firstError == nil { firstError = message }
    }
}


/// Closed-loop load: `connections` threads, each with its own keep-alive
/// connection, sending the next request as soon as the answer arrives.
/// Requests that complete inside [warm-up end, end] are counted and timed.
func runLoad(socket: String, requests: [[UInt8]], connections: Int, warmup: Double, duration: Double,
             seed: UInt64, daemonPID: Int32? = nil)
    throws -> (ops: Int, errors: Int, firstError: String?, sorted: [UInt64], daemonCPUSeconds: Double?) {
    let conns = try (0..<connections).map { _ in try Connection(socketPath: socket) }
    let results = (0..<connections).map { _ in ConnectionResult() }
    let shared = Locked(conns)
    let start = nowNanoseconds() + 100_000_000
    let measureFrom = start + UInt64(warmup * 1e9)
    let end = measureFrom + UInt64(duration * 1e9)
    // The daemon's CPU time (every thread, user and system) over exactly the
    // measured window, read by a thread of its own at the window's edges.
    let cpu = Locked<(Double?, Double?)>((nil, nil))
    let sampler = daemonPID.map { pid in
        Thread {
            sleepUntil(measureFrom)
            let before = processCPUSeconds(pid)
            sleepUntil(end)
            let after = processCPUSeconds(pid)
            cpu.withLock { $0 = (before, after) }
        }
    }
    sampler?.start()
    onThreads(connections) { i in
        var connection: Connection? = shared.withLock { $0[i] }
        let result = results[i]
        result.latencies.reserveCapacity(1 << 14)
        var rng = SplitMix64(state: seed &+ UInt64(i) &* 0x1000_0001)
        let n = UInt64(requests.count)
        while nowNanoseconds() < start { usleep(1000) }
        while true {
            let t0 = nowNanoseconds()
            if t0 >= end { break }
            let request = requests[n == 1 ? 0 : Int(rng.next() % n)]
            do {
                if connection == nil { connection = try Connection(socketPath: socket) }
                try connection!.send(request)
                let (status, body) = try connection!.readResponse(keepBody: true)
                if status != 200 {
                    result.fail("HTTP \(status)\(body.isEmpty ? "" : ": " + String(decoding: body, as: UTF8.self))")
                    continue
                }
            } catch {
                result.fail("\(error)")
                connection = nil
                usleep(10_000)
                continue
            }
            let t1 = nowNanoseconds()
            if t1 >= measureFrom && t1 <= end { result.latencies.append(t1 - t0) }
        }
    }
    shared.withLock { $0.removeAll() }
    // The sampler's second reading is due at `end`; the load threads stop there too.
    var daemonCPU: Double?
    if sampler != nil {
        while true {
            let (before, after) = cpu.withLock { $0 }
            if let before, let after { daemonCPU = after - before; break }
            usleep(1000)
        }
    }
    let all = results.flatMap(\.latencies).sorted()
    return (all.count, results.map(\.errors).reduce(0, +), results.compactMap(\.firstError).first, all, daemonCPU)
}

func sleepUntil(_ deadline: UInt64) {
    while true {
        let now = nowNanoseconds()
        if now >= deadline { return }
        usleep(UInt32(min(100_000, (deadline - now) / 1000 + 1)))
    }
}

/// utime + stime of a whole process (all its threads), from /proc/PID/stat, in seconds.
func processCPUSeconds(_ pid: Int32) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
    return (utime + stime) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// `run`: measures one operation at each connection count; one JSON row each.
func runCommand(_ o: Options) throws {
    guard let socket = o.socket else { usage("run needs --socket") }
    guard let opKey = o.operation, let op = DaemonOperation.all.first(where: { $0.key == opKey }) else {
        usage("run needs --operation (\(DaemonOperation.all.map(\.key).joined(separator: ", ")))")
    }
    var keyIDs = o.keyIDs
    if let file = o.keysFile {
        keyIDs += try String(contentsOfFile: file, encoding: .utf8).split(whereSeparator: \.isNewline).map(String.init)
    }
    if let limit = o.keyLimit { keyIDs = Array(keyIDs.prefix(limit)) }
    if op.needsKey && keyIDs.isEmpty { usage("\(op.key) needs --key or --keys") }
    let setup = try Connection(socketPath: socket)
    let bodies = op.needsKey ? try keyIDs.map { try op.body(keyID: $0, setup: setup) } : [try op.body(keyID: nil, setup: setup)]
    let requests = bodies.map { Connection.request(target: op.target, body: $0) }
    // Each distinct request must succeed before anything is timed (a sample).
    for request in requests.prefix(3) {
        try setup.send(request)
        let (status, body) = try setup.readResponse(keepBody: true)
        guard status == 200 else {
            throw LoadError("\(op.name): HTTP \(status): \(String(decoding: body, as: UTF8.self))")
        }
    }
    var primeRate: Double?
    if o.prime {
        primeRate = try prime(socket: socket, requests: requests, connections: o.connections.max() ?? 16)
        FileHandle.standardError.write(Data(String(format: "  primed %d keys (one request each): %.1f ops/s\n",
                                                   requests.count, primeRate!).utf8))
    }
    for (n, connections) in o.connections.enumerated() {
        let r = try runLoad(socket: socket, requests: requests, connections: connections, warmup: o.warmup,
                            duration: o.duration, seed: UInt64(n + 1) &* 7919, daemonPID: o.daemonPID)
        var row: [String: Any] = [
            "section": "daemon", "operation": op.name, "op": op.key, "raw_op": op.rawOp, "connections": connections,
            "ops": r.ops, "errors": r.errors, "seconds": o.duration,
            "ops_per_s": rounded(Double(r.ops) / o.duration, 1),
            "p50_ms": rounded(percentile(r.sorted, 0.50)), "p99_ms": rounded(percentile(r.sorted, 0.99)),
            "p999_ms": rounded(percentile(r.sorted, 0.999)),
        ]
        if op.needsKey { row["keys"] = keyIDs.count }
        if let cpu = r.daemonCPUSeconds, r.ops > 0 {
            row["daemon_cpu_us_per_op"] = rounded(cpu * 1e6 / Double(r.ops), 1)
        }
        if let e = r.firstError { row["first_error"] = e }
        if let primeRate { row["prime_ops_per_s"] = rounded(primeRate, 1) }
        for (k, v) in o.set { row[k] = v }
        let data = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys])
        FileHandle.standardOutput.write(data + Data("\n".utf8))
        let label = (row["operation"] as! String).padding(toLength: 42, withPad: " ", startingAt: 0)
        let numbers = String(format: "%3d conn, %6d keys: %9.1f ops/s  p50 %7.3f  p99 %7.3f  p99.9 %7.3f ms",
                             connections, keyIDs.count, row["ops_per_s"] as! Double, row["p50_ms"] as! Double,
                             row["p99_ms"] as! Double, row["p999_ms"] as! Double)
        FileHandle.standardError.write(Data("  \(row["section"]!)  \(label) \(numbers)\(r.errors > 0 ? "  \(r.errors) ERRORS" : "")\n".utf8))
        if r.errors > 0, let e = r.firstError {
            FileHandle.standardError.write(Data("    first error: \(e.prefix(300))\n".utf8))
        }
    }
}

/// One request per distinct request (per key), spread over `connections`
/// threads, before anything is timed: the first Encrypt under a key in a
/// daemon process is not the steady state (it leases a block of the key's IV
/// budget in the metadata store, and in wrapped mode may unwrap the key).
/// Returns the rate of that pass.
func prime(socket: String, requests: [[UInt8]], connections: Int) throws -> Double {
    let next = Locked((index: 0, failure: String?.none))
    let started = nowNanoseconds()
    onThreads(max(1, min(connections, requests.count))) { _ in
        var connection: Connection?
        while true {
            let i = next.withLock { n -> Int? in
                guard n.failure == nil, n.index < requests.count else { return nil }
                n.index += 1
                return n.index - 1
            }
            guard let i else { return }
            do {
                if connection == nil { connection = try Connection(socketPath: socket) }
                try connection!.send(requests[i])
                let (status, body) = try connection!.readResponse(keepBody: true)
                if status != 200 { throw LoadError("HTTP \(status): \(String(decoding: body, as: UTF8.self))") }
            } catch {
                next.withLock { $0.failure = $0.failure ?? "priming: \(error)" }
                return
            }
        }
    }
    if let failure = next.withLock({ $0.failure }) { throw LoadError(failure) }
    return Double(requests.count) / (Double(nowNanoseconds() - started) / 1e9)
}

/// `create-keys`: CreateKey over many connections, ids on stdout, a progress bar on stderr.
func createKeysCommand(_ o: Options) throws {
    guard let socket = o.socket else { usage("create-keys needs --socket") }
    guard let count = o.count, count > 0 else { usage("create-keys needs --count N") }
    let body = #"{"KeySpec":"\#(o.keySpec)","KeyUsage":"\#(o.keyUsage)","Description":"p11kms bench"}"#
    let request = Connection.request(target: "CreateKey", body: body)
    struct Progress { var next = 0; var done = 0; var ids: [String] = []; var failure: String? }
    let progress = Locked(Progress())
    let threads = max(1, min(o.connections.max() ?? 16, count))
    let finished = Locked(0)
    let started = nowNanoseconds()
    let tty = isatty(2) != 0
    let title = o.title ?? "creating \(count) \(o.keySpec) keys"
    func draw(_ done: Int, final: Bool = false) {
        let width = 30
        let filled = count == 0 ? width : done * width / count
        let elapsed = Double(nowNanoseconds() - started) / 1e9
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "  \(title) [\(bar)] \(done)/\(count) " + String(format: "%.0f keys/s, %.1f s", rate, elapsed)
        FileHandle.standardError.write(Data((tty ? "\r" + line + (final ? "\n" : "") : line + "\n").utf8))
    }
    let workers = Thread {
        onThreads(threads) { _ in
            var connection: Connection?
            while true {
                let mine = progress.withLock { p -> Bool in
                    guard p.failure == nil, p.next < count else { return false }
                    p.next += 1
                    return true
                }
                if !mine { break }
                do {
                    if connection == nil { connection = try Connection(socketPath: socket) }
                    try connection!.send(request)
                    let (status, bytes) = try connection!.readResponse(keepBody: true)
                    let json = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
                    guard status == 200, let id = (json?["KeyMetadata"] as? [String: Any])?["KeyId"] as? String else {
                        throw LoadError("CreateKey: HTTP \(status): \(String(decoding: bytes, as: UTF8.self))")
                    }
                    progress.withLock { p in
                        p.done += 1
                        p.ids.append(id)
                    }
                } catch {
                    progress.withLock { $0.failure = $0.failure ?? "\(error)" }
                    break
                }
            }
        }
        finished.withLock { $0 = 1 }
    }
    workers.start()
    var lastDecile = -1
    while finished.withLock({ $0 }) == 0 {
        usleep(tty ? 200_000 : 100_000)
        let done = progress.withLock { $0.done }
        if tty {
            draw(done)
        } else if done * 10 / count != lastDecile {
            lastDecile = done * 10 / count
            draw(done)
        }
    }
    let result = progress.withLock { $0 }
    if tty || result.done * 10 / count != lastDecile { draw(result.done, final: true) }
    if let failure = result.failure { throw LoadError(failure) }
    print(result.ids.joined(separator: "\n"))
}
