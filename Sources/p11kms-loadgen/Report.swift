import BenchStatistics
import Foundation

/// The issue's targets, checked against one run's rows.
struct Target {
    let name: String
    let measured: String
    let holds: Bool?
}

typealias Row = [String: Any]

func number(_ row: Row, _ key: String) -> Double? {
    if let d = row[key] as? Double { return d }
    if let i = row[key] as? Int { return Double(i) }
    if let n = row[key] as? NSNumber { return n.doubleValue }
    return nil
}

func int(_ row: Row, _ key: String) -> Int? { number(row, key).map { Int($0) } }

func grouped(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, c) in s.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}

func fmt(_ x: Double?, _ places: Int = 1) -> String {
    guard let x else { return "—" }
    return String(format: "%.\(places)f", x)
}

func percent(_ x: Double?) -> String {
    guard let x else { return "—" }
    return String(format: "%.1f %%", x * 100)
}

func reportCommand(_ o: Options) throws {
    guard let rowsPath = o.rows, let jsonPath = o.json, let mdPath = o.md else {
        usage("report needs --rows, --json and --md")
    }
    let text = try String(contentsOfFile: rowsPath, encoding: .utf8)
    var rows: [Row] = try text.split(whereSeparator: \.isNewline).filter { !$0.isEmpty }.map { line in
        guard let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? Row else {
            throw LoadError("not a JSON object: \(line)")
        }
        return row
    }

    // The limit of each raw operation: the 2-thread rate (the machine's
    // cores), else the most threads measured.
    var rawLimit: [String: Double] = [:]
    var rawThreads: [String: Int] = [:]
    for row in rows where row["section"] as? String == "raw" {
        guard let op = row["op"] as? String, let t = int(row, "threads"), let v = number(row, "ops_per_s") else { continue }
        if t == 2 || (rawThreads[op] ?? 0) < t && rawThreads[op] != 2 {
            rawLimit[op] = v
            rawThreads[op] = t
        }
    }
    // Scaling: each mode against its smallest key count with a cache that holds them.
    var scalingBase: [String: Double] = [:]
    var scalingBaseKeys: [String: Int] = [:]
    for row in rows where row["section"] as? String == "scaling" {
        guard let mode = row["mode"] as? String, let keys = int(row, "keys"), let v = number(row, "ops_per_s") else { continue }
        if keys < (scalingBaseKeys[mode] ?? .max) {
            scalingBase[mode] = v
            scalingBaseKeys[mode] = keys
        }
    }
    let rssLimit = 150.0
    // Envelope: against openssl speed's single-core AES-256-GCM rate.
    let opensslRate = rows.first { $0["section"] as? String == "envelope" && $0["op"] as? String == "openssl" }
        .flatMap { number($0, "mb_per_s") }
    for i in rows.indices {
        var row = rows[i]
        switch row["section"] as? String {
        case "daemon":
            if let op = row["raw_op"] as? String, let limit = rawLimit[op], let v = number(row, "ops_per_s") {
                row["limit"] = limit
                row["ratio"] = rounded(v / limit)
            }
        case "scaling":
            if let mode = row["mode"] as? String, let limit = scalingBase[mode], let v = number(row, "ops_per_s") {
                row["limit"] = limit
                row["ratio"] = rounded(v / limit)
            }
        case "envelope":
            if row["op"] as? String != "openssl", let limit = opensslRate, let v = number(row, "mb_per_s") {
                row["limit"] = limit
                row["ratio"] = rounded(v / limit)
            }
        case "memory":
            if let v = number(row, "peak_rss_mb") {
                row["limit"] = rssLimit
                row["ratio"] = rounded(v / rssLimit)
            }
        default:
            break
        }
        for key in ["limit", "ratio"] where row[key] == nil { row[key] = NSNull() }
        rows[i] = row
    }

    // Targets.
    let daemon = rows.filter { $0["section"] as? String == "daemon" }
    func best(_ op: String) -> Row? {
        daemon.filter { $0["op"] as? String == op }.max { (number($0, "ops_per_s") ?? 0) < (number($1, "ops_per_s") ?? 0) }
    }
    func at16(_ op: String) -> Row? {
        daemon.first { $0["op"] as? String == op && int($0, "connections") == 16 }
    }
    var targets: [Target] = []
    for (op, label, goal) in [("sign-ecdsa", "Sign ECDSA P-256", 0.70), ("sign-rsa", "Sign RSA-2048 PKCS#1 v1.5", 0.90)] {
        if let r = best(op), let ratio = number(r, "ratio") {
            targets.append(Target(name: "\(label) through the daemon ≥ \(Int(goal * 100)) % of the raw 2-thread rate",
                                  measured: "\(percent(ratio)) (\(fmt(number(r, "ops_per_s"))) of \(fmt(number(r, "limit"))) ops/s, best at \(int(r, "connections") ?? 0) connections)",
                                  holds: ratio >= goal))
        } else {
            targets.append(Target(name: "\(label) ≥ \(Int(goal * 100)) % of raw", measured: "not measured", holds: nil))
        }
    }
    for (op, label) in [("encrypt", "Encrypt"), ("generate-mac", "GenerateMac")] {
        if let r = at16(op), let ratio = number(r, "ratio"), let p99 = number(r, "p99_ms") {
            targets.append(Target(name: "\(label) at 16 connections ≥ 40 % of the raw 2-thread rate and p99 < 2 ms",
                                  measured: "\(percent(ratio)) (\(fmt(number(r, "ops_per_s"))) of \(fmt(number(r, "limit"))) ops/s), p99 \(fmt(p99, 2)) ms",
                                  holds: ratio >= 0.40 && p99 < 2))
        } else {
            targets.append(Target(name: "\(label) at 16 connections", measured: "not measured", holds: nil))
        }
    }
    if let r = best("generate-random"), let ratio = number(r, "ratio") {
        targets.append(Target(name: "GenerateRandom through the daemon ≥ 25 % of the raw 2-thread rate",
                              measured: "\(percent(ratio)) (\(fmt(number(r, "ops_per_s"))) of \(fmt(number(r, "limit"))) ops/s, best at \(int(r, "connections") ?? 0) connections)",
                              holds: ratio >= 0.25))
    } else {
        targets.append(Target(name: "GenerateRandom ≥ 25 % of raw", measured: "not measured", holds: nil))
    }
    // The Kubernetes plugin: kube-apiserver decrypts every seed at start-up (#15).
    if let r = rows.first(where: { $0["section"] as? String == "kubernetes" && int($0, "connections") == 16 }),
       let p99 = number(r, "p99_ms") {
        let errors = int(r, "errors") ?? 0
        targets.append(Target(name: "Kubernetes KMS v2 Decrypt at 16 in flight: p99 < 10 ms, no errors",
                              measured: "p99 \(fmt(p99, 2)) ms (\(fmt(number(r, "ops_per_s"))) ops/s, \(errors) errors)",
                              holds: p99 < 10 && errors == 0))
    } else {
        targets.append(Target(name: "Kubernetes KMS v2 Decrypt p99 < 10 ms", measured: "not measured", holds: nil))
    }
    // CPU per request: the daemon's own CPU time over the window, divided by
    // the requests answered in it, so it holds on a machine that is busy.
    if let r = at16("encrypt"), let us = number(r, "daemon_cpu_us_per_op") {
        targets.append(Target(name: "Daemon CPU per Encrypt (16 connections) < 60 µs",
                              measured: "\(fmt(us, 1)) µs", holds: us < 60))
    } else {
        targets.append(Target(name: "Daemon CPU per Encrypt < 60 µs", measured: "not measured", holds: nil))
    }
    let scaling = rows.filter { $0["section"] as? String == "scaling" }
    func scalingTarget(mode: String, wantKeys: Int, label: String) {
        let candidates = scaling.filter { r in
            r["mode"] as? String == mode && (mode == "token" || (int(r, "cache") ?? 0) >= (int(r, "keys") ?? 0))
        }
        guard let r = candidates.max(by: { (int($0, "keys") ?? 0) < (int($1, "keys") ?? 0) }),
              let ratio = number(r, "ratio"), let keys = int(r, "keys") else {
            targets.append(Target(name: label, measured: "not measured", holds: nil))
            return
        }
        let short = keys < wantKeys ? " — only \(grouped(keys)) keys in this run, not \(grouped(wantKeys))" : ""
        targets.append(Target(name: label,
                              measured: "\(percent(ratio)) (\(fmt(number(r, "ops_per_s"))) vs \(fmt(number(r, "limit"))) ops/s at \(grouped(scalingBaseKeys[mode] ?? 0)) keys)\(short)",
                              holds: keys < wantKeys ? nil : ratio >= 0.85))
    }
    scalingTarget(mode: "wrapped", wantKeys: 10_000, label: "Wrapped mode, 10,000 keys (cache holds them) ≥ 85 % of 10-key Encrypt throughput")
    scalingTarget(mode: "token", wantKeys: 1_000, label: "Token mode, 1,000 keys ≥ 85 % of 10-key Encrypt throughput")
    let memory = rows.filter {
        $0["section"] as? String == "memory" && $0["mode"] as? String == "wrapped" && (int($0, "cache") ?? 0) >= (int($0, "keys") ?? 0)
    }
    if let r = memory.max(by: { (int($0, "keys") ?? 0) < (int($1, "keys") ?? 0) }), let mb = number(r, "peak_rss_mb"),
       let keys = int(r, "keys") {
        let short = keys < 10_000 ? " — only \(grouped(keys)) keys in this run" : ""
        targets.append(Target(name: "Daemon peak RSS < 150 MB at 10,000 keys (wrapped, cache holds them)",
                              measured: "\(fmt(mb)) MB at \(grouped(keys)) keys\(short)", holds: keys < 10_000 ? nil : mb < rssLimit))
    }

    let envelope = rows.filter { $0["section"] as? String == "envelope" && $0["op"] as? String != "openssl" }
    let envelopeRatios = envelope.compactMap { r in number(r, "ratio").map { (r["op"] as? String ?? "?", $0, number(r, "mb_per_s")) } }
    if envelopeRatios.isEmpty {
        targets.append(Target(name: "Envelope encryption ≥ 50 % of single-core openssl speed AES-256-GCM", measured: "not measured", holds: nil))
    } else {
        let measured = envelopeRatios.map { "\($0.0) \(percent($0.1)) (\(fmt($0.2)) MB/s)" }.joined(separator: ", ")
        targets.append(Target(name: "Envelope encryption (encrypt-file and decrypt-file) ≥ 50 % of single-core openssl speed AES-256-GCM",
                              measured: "\(measured) of \(fmt(opensslRate)) MB/s",
                              holds: envelopeRatios.allSatisfy { $0.1 >= 0.5 }))
    }

    // JSON.
    var machine: [String: Any] = [:]
    for (k, v) in o.machine { machine[k] = typed(v) }
    let document: [String: Any] = [
        "machine": machine,
        "results": rows,
        "notes": o.notes,
        "targets": targets.map { t -> [String: Any] in
            ["target": t.name, "measured": t.measured, "holds": t.holds.map { $0 as Any } ?? NSNull()]
        },
    ]
    let json = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
    try json.write(to: URL(fileURLWithPath: jsonPath))

    // Markdown.
    var md = "# p11kms benchmark\n\n"
    for (k, v) in o.machine { md += "- **\(k)**: \(v)\n" }
    if let c = o.commandLine { md += "- **command**: `\(c)`\n" }
    md += "\n"
    md += "| section | operation | threads / connections / keys | ops/s (memory: MB; envelope: MB/s) | p50 ms | p99 ms | p99.9 ms | limit | ratio | daemon CPU µs/op |\n"
    md += "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    for section in ["raw", "daemon", "kubernetes", "scaling", "envelope", "memory"] {
        for r in rows where r["section"] as? String == section {
            var n: [String] = []
            if let t = int(r, "threads") { n.append("\(t) thread\(t == 1 ? "" : "s")") }
            if section == "scaling" || section == "memory", let k = int(r, "keys") { n.append("\(grouped(k)) keys") }
            if let c = int(r, "connections") { n.append("\(c) conn") }
            if section == "envelope" { n.append(r["op"] as? String == "openssl" ? "1 core" : "1 process") }
            let value = switch section {
            case "memory": fmt(number(r, "peak_rss_mb"))
            case "envelope": fmt(number(r, "mb_per_s"))
            default: fmt(number(r, "ops_per_s"))
            }
            let errors = (int(r, "errors") ?? 0) > 0 ? " (\(int(r, "errors")!) errors)" : ""
            md += "| \(section) | \(r["operation"] as? String ?? "?")\(errors) | \(n.joined(separator: ", ")) | \(value) "
            md += "| \(fmt(number(r, "p50_ms"), 3)) | \(fmt(number(r, "p99_ms"), 3)) | \(fmt(number(r, "p999_ms"), 3)) "
            md += "| \(fmt(number(r, "limit"))) | \(fmt(number(r, "ratio"), 2)) | \(fmt(number(r, "daemon_cpu_us_per_op"))) |\n"
        }
    }
    let primed = scaling.filter { number($0, "prime_ops_per_s") != nil }
    if !primed.isEmpty {
        md += "\nBefore each scaling measurement one Encrypt per key was sent (untimed): the first Encrypt under a key "
        md += "in a daemon process leases part of its IV budget in the metadata store (a write), and in wrapped mode "
        md += "may unwrap it. Rate of that pass next to the steady state measured above:\n\n"
        md += "| scaling run | keys | first Encrypt per key, ops/s | steady state, ops/s |\n| --- | ---: | ---: | ---: |\n"
        for r in primed {
            md += "| \(r["operation"] as? String ?? "?") | \(grouped(int(r, "keys") ?? 0)) | \(fmt(number(r, "prime_ops_per_s"))) "
            md += "| \(fmt(number(r, "ops_per_s"))) |\n"
        }
    }
    md += "\n**Targets**\n\n| target | measured | holds |\n| --- | --- | --- |\n"
    for t in targets {
        md += "| \(t.name) | \(t.measured) | \(t.holds.map { $0 ? "yes" : "**no**" } ?? "not decided") |\n"
    }
    if !o.notes.isEmpty {
        md += "\n**Notes**\n\n" + o.notes.map { "- \($0)\n" }.joined()
    }
    if let png = o.png { md += "\nChart: `\(png)`\n" }
    try Data(md.utf8).write(to: URL(fileURLWithPath: mdPath))

    // gnuplot: one panel per daemon operation, ops/s against connections,
    // the raw 2-thread limit as a dashed line.
    if let dataPath = o.plotData, let scriptPath = o.plotScript, let png = o.png {
        var ops: [(key: String, name: String, limit: Double?, points: [(Int, Double)])] = []
        for r in daemon {
            guard let key = r["op"] as? String, let c = int(r, "connections"), let v = number(r, "ops_per_s") else { continue }
            if let i = ops.firstIndex(where: { $0.key == key }) {
                ops[i].points.append((c, v))
            } else {
                ops.append((key, r["operation"] as? String ?? key, number(r, "limit"), [(c, v)]))
            }
        }
        var data = ""
        for op in ops {
            data += "# \(op.name)\n" + op.points.sorted { $0.0 < $1.0 }.map { "\($0.0) \($0.1)" }.joined(separator: "\n") + "\n\n\n"
        }
        try Data(data.utf8).write(to: URL(fileURLWithPath: dataPath))
        let columns = 4
        let rowsCount = max(1, (ops.count + columns - 1) / columns)
        var gp = """
            set terminal pngcairo noenhanced size \(columns * 450),\(rowsCount * 380 + 60) font ",10"
            set output '\(png)'
            set multiplot layout \(rowsCount),\(columns) title "p11kmsd ops/s against concurrent connections (dashed: raw PKCS#11 limit, 2 threads, same HSM operation; log scales)"
            set logscale x 2
            set logscale y 10
            set format y "%.0f"
            set xrange [0.8:80]
            set xtics ("1" 1, "4" 4, "16" 16, "64" 64)
            set xlabel "connections"
            set ylabel "ops/s"
            set grid
            set key center right

            """
        for (i, op) in ops.enumerated() {
            let values = op.points.map(\.1).filter { $0 > 0 } + (op.limit.map { [$0] } ?? [])
            let top = (values.max() ?? 10) * 2
            let bottom = max(1, (values.min() ?? 1) / 2)
            gp += "set title \"\(op.name)\"\nset yrange [\(bottom):\(top)]\n"
            gp += "plot '\(dataPath)' index \(i) using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'daemon'"
            if let limit = op.limit {
                gp += ", \(limit) with lines dt 2 lw 2 lc rgb '#d62728' title 'raw limit'"
            }
            gp += "\n"
        }
        gp += "unset multiplot\n"
        try Data(gp.utf8).write(to: URL(fileURLWithPath: scriptPath))
    }
    print(md)
}
