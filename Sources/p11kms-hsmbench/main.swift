// p11kms-hsmbench: the raw PKCS#11 baseline of scripts/bench (section 1).
//
// The same HSM operations the daemon performs for one request, in a tight
// loop, in process, with no daemon, HTTP, JSON, policy or audit in between:
// the limit the daemon can approach. Each thread is an OS thread with a
// session of its own; keys are session objects (as wrapped-mode keys are
// once unwrapped) on a dev-style SoftHSM2 token in --dir.
//
//   p11kms-hsmbench --dir DIR [--threads 1,2] [--duration 10] [--warmup 1] [--ops a,b]
//
// Prints one JSON object per line and measurement on stdout; progress on stderr.

import BenchStatistics
import Foundation
import PKCS11
import SoftHSMTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// What is measured. Names are the `operation` column of the report.
enum RawOperation: String, CaseIterable {
    /// Encrypt: a 96-bit IV from C_GenerateRandom, then AES-256-GCM of 256 B
    /// with a 25-byte AAD (the size of our ciphertext header).
    case aesGCMEncrypt = "AES-256-GCM encrypt 256 B"
    case ecdsaSign = "ECDSA P-256 sign"
    /// CKM_RSA_PKCS over a SHA-256 DigestInfo, as the daemon signs.
    case rsaSign = "RSA-2048 PKCS#1 v1.5 SHA-256 sign"
    case hmac = "HMAC-SHA-256 256 B"
    case random = "random 32 B"
    /// Decrypt: AES-256-GCM open of 256 B + tag (the limit for Decrypt).
    case aesGCMDecrypt = "AES-256-GCM decrypt 256 B"
    /// GenerateDataKey: 32 random bytes, then an IV and AES-GCM of those 32 B.
    case dataKey = "data key: random 32 B + AES-256-GCM encrypt 32 B"

    var key: String {
        switch self {
        case .aesGCMEncrypt: "aes-gcm-encrypt"
        case .ecdsaSign: "ecdsa-sign"
        case .rsaSign: "rsa-sign"
        case .hmac: "hmac"
        case .random: "random"
        case .aesGCMDecrypt: "aes-gcm-decrypt"
        case .dataKey: "data-key"
        }
    }
}

struct Keys: Sendable {
    let aes: ObjectHandle
    let ec: ObjectHandle
    let rsa: ObjectHandle
    let hmac: ObjectHandle
    let sealed: GCMSealedBox
}

let aad = [UInt8](repeating: 0x50, count: 25)
let plaintext256 = (0..<256).map { UInt8(truncatingIfNeeded: $0) }
let digest = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
let sha256DigestInfo: [UInt8] = [0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
                                 0x02, 0x01, 0x05, 0x00, 0x04, 0x20] + digest

func perform(_ op: RawOperation, _ s: Session, _ k: Keys) throws {
    switch op {
    case .aesGCMEncrypt:
        _ = try s.aesGCMSeal(plaintext256, key: k.aes, aad: aad)
    case .ecdsaSign:
        _ = try s.sign(digest, key: k.ec, mechanism: .ecdsa, expectedLength: 64)
    case .rsaSign:
        _ = try s.sign(sha256DigestInfo, key: k.rsa, mechanism: .rsaPKCS, expectedLength: 256)
    case .hmac:
        _ = try s.sign(plaintext256, key: k.hmac, mechanism: .sha256HMAC, expectedLength: 32)
    case .random:
        _ = try s.generateRandom(count: 32)
    case .aesGCMDecrypt:
        _ = try s.aesGCMOpen(k.sealed, key: k.aes, aad: aad)
    case .dataKey:
        let dataKey = try s.generateRandom(count: 32)
        _ = try s.aesGCMSeal(dataKey, key: k.aes, aad: aad)
    }
}

func nowNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// One thread's samples, read by the main thread only after the thread is done.
final class ThreadResult: @unchecked Sendable {
    var latencies: [UInt64] = []
    var errors = 0
    var firstError: String?
}

struct Options {
    var dir: String?
    var threads = [1, 2]
    var duration = 10.0
    var warmup = 1.0
    var operations = RawOperation.allCases
}

func usage(_ message: String) -> Never {
    FileHandle.standardError.write(Data("""
        p11kms-hsmbench: \(message)
        usage: p11kms-hsmbench --dir DIR [--threads 1,2] [--duration SECONDS] [--warmup SECONDS] [--ops \(RawOperation.allCases.map(\.key).joined(separator: ","))]

        """.utf8))
    exit(2)
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst()
    while let arg = args.popFirst() {
        guard let value = args.popFirst() else { usage("\(arg) needs a value") }
        switch arg {
        case "--dir": o.dir = value
        case "--threads":
            o.threads = value.split(separator: ",").compactMap { Int($0) }
            if o.threads.isEmpty || o.threads.contains(where: { $0 < 1 }) { usage("bad --threads \(value)") }
        case "--duration": o.duration = Double(value) ?? 0; if o.duration <= 0 { usage("bad --duration") }
        case "--warmup": o.warmup = Double(value) ?? -1; if o.warmup < 0 { usage("bad --warmup") }
        case "--ops":
            o.operations = value.split(separator: ",").map { name in
                guard let op = RawOperation.allCases.first(where: { $0.key == name }) else { usage("unknown operation \(name)") }
                return op
            }
        default: usage("unknown option \(arg)")
        }
    }
    if o.dir == nil { usage("--dir is required") }
    return o
}


func measure(_ op: RawOperation, threads: Int, token: Token, keys: Keys, options: Options) throws -> [String: Any] {
    let sessions = try (0..<threads).map { _ in try token.openSession() }
    defer { for s in sessions { try? s.close() } }
    let results = (0..<threads).map { _ in ThreadResult() }
    let start = nowNanoseconds() + 50_000_000 // every thread starts together
    let measureFrom = start + UInt64(options.warmup * 1e9)
    let end = measureFrom + UInt64(options.duration * 1e9)
    // A synchronous program: this waits on the main thread, never on Swift's cooperative pool.
    let done = DispatchSemaphore(value: 0)
    for i in 0..<threads {
        let session = sessions[i]
        let result = results[i]
        let thread = Thread {
            result.latencies.reserveCapacity(1 << 16)
            while nowNanoseconds() < start {}
            while true {
                let t0 = nowNanoseconds()
                if t0 >= end { break }
                do {
                    try perform(op, session, keys)
                } catch {
                    result.errors += 1
                    if result.firstError == nil { result.firstError = "\(error)" }
                    continue
                }
                let t1 = nowNanoseconds()
                // Count (and time) what completed inside the measured window.
                if t1 >= measureFrom && t1 <= end { result.latencies.append(t1 - t0) }
            }
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    for _ in 0..<threads { done.wait() }
    let all = results.flatMap(\.latencies).sorted()
    let errors = results.map(\.errors).reduce(0, +)
    if errors > 0 {
        FileHandle.standardError.write(Data("p11kms-hsmbench: \(op.rawValue): \(errors) errors, first: \(results.compactMap(\.firstError).first ?? "?")\n".utf8))
    }
    return [
        "section": "raw", "operation": op.rawValue, "op": op.key, "threads": threads,
        "ops": all.count, "errors": errors, "seconds": options.duration,
        "ops_per_s": rounded(Double(all.count) / options.duration, 1),
        "p50_ms": rounded(percentile(all, 0.50)), "p99_ms": rounded(percentile(all, 0.99)),
        "p999_ms": rounded(percentile(all, 0.999)),
    ]
}

func main() throws {
    let options = parseOptions()
    let dev = try DevToken.prepare(stateDirectory: options.dir!)
    let anchor = try dev.token.openSession()
    try anchor.login(.user, pin: dev.userPIN())
    defer {
        try? anchor.logout()
        try? anchor.close()
    }
    // Session objects: visible to every session of this process, gone at exit.
    let aes = try anchor.generateKey(.aes(bits: 256), KeyOptions(usage: .encryptDecrypt))
    let hmac = try anchor.generateKey(.genericSecret(bytes: 32), KeyOptions(usage: .signVerify))
    let ec = try anchor.generateKeyPair(.ec(.p256), KeyOptions(usage: .signVerify)).privateKey
    let rsa = try anchor.generateKeyPair(.rsa(bits: 2048), KeyOptions(usage: .signVerify)).privateKey
    let sealed = try anchor.aesGCMSeal(plaintext256, key: aes, aad: aad)
    let keys = Keys(aes: aes, ec: ec, rsa: rsa, hmac: hmac, sealed: sealed)
    // Every operation must work before anything is timed.
    for op in options.operations { try perform(op, anchor, keys) }

    for op in options.operations {
        for threads in options.threads {
            let row = try measure(op, threads: threads, token: dev.token, keys: keys, options: options)
            let data = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
            let name = op.rawValue.padding(toLength: 50, withPad: " ", startingAt: 0)
            let numbers = String(format: "%d thread(s): %10.1f ops/s  p99 %.3f ms", threads,
                                 row["ops_per_s"] as! Double, row["p99_ms"] as! Double)
            FileHandle.standardError.write(Data("  raw  \(name) \(numbers)\n".utf8))
        }
    }
}

do {
    try main()
} catch {
    FileHandle.standardError.write(Data("p11kms-hsmbench: \(error)\n".utf8))
    exit(1)
}
