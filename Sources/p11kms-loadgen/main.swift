// p11kms-loadgen: load through p11kmsd's socket for scripts/bench, and the
// bench report.
//
//   p11kms-loadgen create-keys --socket S --count N [--connections C] [--key-spec SPEC] [--key-usage USAGE] [--title T]
//       CreateKey N times over C connections; key ids on stdout, a progress bar on stderr.
//   p11kms-loadgen run --socket S --operation OP (--key ID | --keys FILE [--key-limit N])
//       [--connections 1,4,16,64] [--duration S] [--warmup S] [--prime] [--daemon-pid PID] [--set FIELD=VALUE]...
//       Closed-loop load, one OS thread per keep-alive connection, the key of
//       each request picked at random among the keys given. One JSON row per
//       connection count on stdout. --prime first sends one request per key
//       (untimed, its rate reported as prime_ops_per_s). --daemon-pid adds the
//       daemon's CPU time per request over the measured window (daemon_cpu_us_per_op).
//   p11kms-loadgen report --rows FILE --json OUT --md OUT --plot-data OUT --plot-script OUT --png PATH
//       [--machine FIELD=VALUE]... [--note TEXT]... [--command TEXT]
//       Limits, ratios, targets; the JSON, the Markdown and a gnuplot script.
//
// Foundation and Glibc only: the load generator measures the daemon, not us.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var command = ""
    var socket: String?
    var operation: String?
    var keyIDs: [String] = []
    var keysFile: String?
    var keyLimit: Int?
    var connections = [1, 4, 16, 64]
    var duration = 10.0
    var warmup = 1.0
    var set: [(String, Any)] = []
    var prime = false
    var count: Int?
    var keySpec = "SYMMETRIC_DEFAULT"
    var keyUsage = "ENCRYPT_DECRYPT"
    var title: String?
    var daemonPID: Int32?
    // report
    var rows: String?
    var json: String?
    var md: String?
    var plotData: String?
    var plotScript: String?
    var png: String?
    var machine: [(String, String)] = []
    var notes: [String] = []
    var commandLine: String?
}

func usage(_ message: String) -> Never {
    FileHandle.standardError.write(Data("p11kms-loadgen: \(message)\n(see the comment at the top of Sources/p11kms-loadgen/main.swift)\n".utf8))
    exit(2)
}

func typed(_ v: String) -> Any {
    if let i = Int(v) { return i }
    if let d = Double(v) { return d }
    return v
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst()
    guard let command = args.popFirst() else { usage("give a command: create-keys, run or report") }
    o.command = command
    func pair(_ s: String) -> (String, String) {
        guard let eq = s.firstIndex(of: "=") else { usage("expected FIELD=VALUE, got \(s)") }
        return (String(s[..<eq]), String(s[s.index(after: eq)...]))
    }
    while let arg = args.popFirst() {
        if arg == "--prime" {
            o.prime = true
            continue
        }
        guard let v = args.popFirst() else { usage("\(arg) needs a value") }
        switch arg {
        case "--socket": o.socket = v
        case "--operation": o.operation = v
        case "--key": o.keyIDs.append(v)
        case "--keys": o.keysFile = v
        case "--key-limit": o.keyLimit = Int(v) ?? { usage("bad --key-limit") }()
        case "--connections":
            o.connections = v.split(separator: ",").compactMap { Int($0) }
            if o.connections.isEmpty || o.connections.contains(where: { $0 < 1 }) { usage("bad --connections \(v)") }
        case "--duration": o.duration = Double(v) ?? 0; if o.duration <= 0 { usage("bad --duration") }
        case "--warmup": o.warmup = Double(v) ?? -1; if o.warmup < 0 { usage("bad --warmup") }
        case "--set": let (k, value) = pair(v); o.set.append((k, typed(value)))
        case "--count": o.count = Int(v)
        case "--key-spec": o.keySpec = v
        case "--key-usage": o.keyUsage = v
        case "--title": o.title = v
        case "--daemon-pid": o.daemonPID = Int32(v) ?? { usage("bad --daemon-pid") }()
        case "--rows": o.rows = v
        case "--json": o.json = v
        case "--md": o.md = v
        case "--plot-data": o.plotData = v
        case "--plot-script": o.plotScript = v
        case "--png": o.png = v
        case "--machine": o.machine.append(pair(v))
        case "--note": o.notes.append(v)
        case "--command": o.commandLine = v
        default: usage("unknown option \(arg)")
        }
    }
    return o
}

let options = parseOptions()
do {
    switch options.command {
    case "run": try runCommand(options)
    case "create-keys": try createKeysCommand(options)
    case "report": try reportCommand(options)
    default: usage("unknown command \(options.command)")
    }
} catch {
    FileHandle.standardError.write(Data("p11kms-loadgen: \(error)\n".utf8))
    exit(1)
}
