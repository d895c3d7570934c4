import Foundation
import KMSAuditFormat

/// The report as one self-contained HTML page (no scripts, fonts or images
/// from anywhere), for a person: the findings first, then a table of every
/// key, then each key's evidence. The JSON beside it is what is signed.
enum ReportHTML {
    static func render(_ r: ComplianceReport, fingerprint: String) -> String {
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>p11kms key report, \(e(r.token.label)), \(e(time(r.generatedAt)))</title>
            <style>
            body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#1d2126}
            h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #d0d5db;padding-bottom:.2em}
            h3{margin-top:1.6em}table{border-collapse:collapse;width:100%;margin:.6em 0}
            th,td{border:1px solid #d0d5db;padding:.3em .5em;text-align:left;vertical-align:top}
            th{background:#f1f3f5}code{font:12px ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
            .fault{color:#a3161a;font-weight:600}.notice{color:#7a5a00}.ok{color:#19692c;font-weight:600}
            .meta td:first-child{width:14em;background:#f7f8f9}.verify{background:#f7f8f9;border:1px solid #d0d5db;padding:.8em}
            </style></head><body>
            <h1>Key report: \(e(r.token.label))</h1>
            <p>Generated \(e(time(r.generatedAt))) by \(e(r.generatedBy))\(r.since.map { ", usage since " + e(time($0)) } ?? "").
            \(r.kind == "attestation" ? "Attestation of one key." : "\(r.keys.count) keys.")</p>
            <table class="meta">
            <tr><td>HSM</td><td>\(e(r.token.manufacturer)) \(e(r.token.model)), serial <code>\(e(r.token.serialNumber))</code>, token \(e(r.token.label))</td></tr>
            <tr><td>Key storage</td><td>\(e(r.token.keyStorage))\(r.token.keyStorage == "wrapped" ? " (each version is wrapped under its key's KEK and unwrapped only inside the HSM)" : " (each version is a token object)")</td></tr>
            <tr><td>Audit log</td><td>\(r.audit.intact ? "<span class=\"ok\">verified</span>" : "<span class=\"fault\">does not verify: \(e(r.audit.problem ?? ""))</span>"): \(r.audit.linesChecked) lines, \(r.audit.checkpointsVerified) signed checkpoints, \(r.audit.unsignedTailLines) lines after the last one\(r.audit.firstLineTime.map { ", from " + e(time($0)) } ?? "")\(r.audit.lastLineTime.map { " to " + e(time($0)) } ?? "")</td></tr>
            <tr><td>Signed by</td><td><code>\(e(fingerprint))</code> (the token's audit key)</td></tr>
            </table>
            <div class="verify">To check this report offline, run
            <code>p11kms report verify report.json --key-fingerprint \(e(fingerprint))</code>
            with the <code>report.json</code> beside this page, and compare the fingerprint with the one
            <code>p11kms status</code> or <code>p11kms token info</code> prints on the host. This page is
            rendered from that file; the file is what is signed.</div>

            """
        h += "<h2>Findings</h2>\n"
        if r.findings.isEmpty {
            h += "<p class=\"ok\">None.</p>\n"
        } else {
            h += "<table id=\"findings\"><tr><th>severity</th><th>finding</th><th>key</th><th>detail</th></tr>\n"
            for f in r.findings {
                h += "<tr><td class=\"\(e(f.severity))\">\(e(f.severity))</td><td>\(e(f.kind.rawValue))</td>"
                    + "<td><code>\(e(f.keyId ?? "—"))</code></td><td>\(e(f.message))</td></tr>\n"
            }
            h += "</table>\n"
        }
        h += "<h2>Keys</h2>\n<table id=\"keys\"><tr><th>key</th><th>spec / usage</th><th>origin</th><th>state</th>"
            + "<th>created</th><th>rotation</th><th>versions</th><th>in the HSM</th><th>findings</th><th>last used</th></tr>\n"
        for k in r.keys {
            let findings = r.findings.filter { $0.keyId == k.keyId }
            h += "<tr><td><a href=\"#key-\(e(k.keyId))\"><code>\(e(k.keyId))</code></a>\(k.description.isEmpty ? "" : "<br>" + e(k.description))</td>"
                + "<td>\(e(k.keySpec))<br>\(e(k.keyUsage))</td><td>\(e(k.origin))</td><td>\(e(k.state))</td>"
                + "<td>\(e(day(k.creationDate)))</td><td>\(rotation(k))</td><td>\(k.versions.count)</td>"
                + "<td>\(bound(k))</td><td>\(findings.isEmpty ? "—" : "<span class=\"\(findings.contains { $0.severity == "fault" } ? "fault" : "notice")\">\(findings.count)</span>")</td>"
                + "<td>\(k.lastUsed.map { e(day($0)) } ?? "never")</td></tr>\n"
        }
        h += "</table>\n"
        if let d = r.domainKey {
            h += "<h3>Domain key</h3>\n" + objects([d])
            if let enforced = r.unwrapTemplateEnforced {
                h += enforced
                    ? "<p class=\"ok\">The token enforces its unwrap template: every KEK it unwraps is sensitive and never extractable.</p>\n"
                    : "<p class=\"fault\">The token does not enforce its unwrap template.</p>\n"
            }
        }
        for k in r.keys {
            h += "<h2 id=\"key-\(e(k.keyId))\">Key <code>\(e(k.keyId))</code></h2>\n<p><code>\(e(k.arn))</code></p>\n"
            h += "<h3>Where it lives</h3>\n"
            if let kek = k.kek { h += "<p>Its KEK on the token:</p>\n" + objects([kek]) }
            h += "<table><tr><th>version</th><th>made</th><th>how</th><th>storage</th><th>key material id</th></tr>\n"
            for v in k.versions {
                h += "<tr><td>\(v.version)</td><td>\(e(time(v.createdAt)))</td><td>\(e(v.rotationType ?? "created"))</td>"
                    + "<td>\(e(v.storage))</td><td><code>\(e(v.keyMaterialId))</code></td></tr>\n"
            }
            h += "</table>\n"
            let versionObjects = k.versions.flatMap(\.objects) + k.versions.compactMap(\.generation)
            if !versionObjects.isEmpty { h += objects(versionObjects) }
            if k.versions.contains(where: { $0.storage == "wrapped" && $0.generation != nil }) {
                h += "<p>A wrapped version is born extractable so that it can be wrapped under its KEK, and is made "
                    + "unextractable right after; what matters at generation is CKA_LOCAL, CKA_ALWAYS_SENSITIVE and CKA_SENSITIVE.</p>\n"
            }
            h += "<h3>Who may use it</h3>\n<table><tr><th>principal</th><th>effect</th><th>operations</th><th>from</th></tr>\n"
            for a in k.access {
                let ops = a.operations.count == 0 ? "none" : a.operations.map { $0.replacingOccurrences(of: "kms:", with: "") }.joined(separator: ", ")
                h += "<tr><td><code>\(e(a.principal))</code></td><td>\(e(a.effect))\(a.conditional ? " (with conditions)" : "")</td>"
                    + "<td>\(e(ops))</td><td>\(e(a.source))</td></tr>\n"
            }
            h += "</table>\n<h3>Who did</h3>\n"
            if k.usage.isEmpty {
                h += "<p>No use on record\(r.since.map { " since " + e(day($0)) } ?? "").</p>\n"
            } else {
                h += "<table><tr><th>principal</th><th>operation</th><th>allowed</th><th>refused</th><th>last</th></tr>\n"
                for u in k.usage {
                    h += "<tr><td><code>\(e(u.principal))</code></td><td>\(e(u.operation))</td><td>\(u.count)</td>"
                        + "<td>\(u.denied)</td><td>\(e(time(u.last)))</td></tr>\n"
                }
                h += "</table>\n"
            }
            h += "<h3>History</h3>\n<table><tr><th>when</th><th>what</th><th>who</th><th>outcome</th><th>request</th></tr>\n"
            h += "<tr><td>\(e(time(k.creationDate)))</td><td>created (metadata store)</td><td>—</td><td>—</td><td>—</td></tr>\n"
            for entry in k.history {
                h += "<tr><td>\(e(time(entry.time)))</td><td>\(e(entry.operation))\(entry.note.map { "<br>" + e($0) } ?? "")</td>"
                    + "<td><code>\(e(entry.principal))</code></td><td>\(e(entry.outcome))</td><td><code>\(e(entry.requestId))</code></td></tr>\n"
            }
            h += "</table>\n"
        }
        if !r.otherTokenObjects.isEmpty {
            h += "<h2>Other keys on the token</h2>\n<p>Secret and private keys that no p11kms key owns.</p>\n" + objects(r.otherTokenObjects)
        }
        h += "</body></html>\n"
        return h
    }

    private static func objects(_ list: [ComplianceReport.ObjectEvidence]) -> String {
        var h = "<table><tr><th>object</th><th>class</th><th>CKA_LOCAL</th><th>CKA_ALWAYS_SENSITIVE</th>"
            + "<th>CKA_NEVER_EXTRACTABLE</th><th>CKA_EXTRACTABLE</th><th>CKA_SENSITIVE</th></tr>\n"
        for o in list {
            h += "<tr><td>\(e(o.role))<br><code>\(e(o.label))</code></td><td>\(e(o.objectClass))</td>"
                + flag(o.local, good: true) + flag(o.alwaysSensitive, good: true) + flag(o.neverExtractable, good: true)
                + flag(o.extractable, good: false) + flag(o.sensitive, good: true) + "</tr>\n"
        }
        return h + "</table>\n"
    }

    private static func flag(_ value: Bool?, good: Bool) -> String {
        guard let value else { return "<td>unknown</td>" }
        return "<td class=\"\(value == good ? "ok" : "fault")\">\(value ? "true" : "false")</td>"
    }

    private static func rotation(_ k: ComplianceReport.KeyEvidence) -> String {
        guard k.rotationEnabled else { return "off" }
        return "every \(k.rotationPeriodInDays ?? 0) days" + (k.nextRotationDate.map { ", next " + e(day($0)) } ?? "")
    }

    private static func bound(_ k: ComplianceReport.KeyEvidence) -> String {
        let objects = k.versions.flatMap(\.objects) + (k.kek.map { [$0] } ?? [])
        let generated = k.versions.compactMap(\.generation)
        if k.origin == "EXTERNAL" { return "<span class=\"notice\">imported</span>" }
        if objects.isEmpty && generated.isEmpty { return "not read" }
        let ok = objects.allSatisfy(\.isHardwareBound)
            && generated.allSatisfy { $0.local == true && $0.alwaysSensitive == true && $0.sensitive == true }
        return ok ? "<span class=\"ok\">yes</span>" : "<span class=\"fault\">no</span>"
    }

    private static func time(_ d: Date) -> String { AuditLine.formatTime(d) }
    private static func day(_ d: Date) -> String { String(AuditLine.formatTime(d).prefix(10)) }

    /// HTML-escapes text for element content and attribute values.
    static func e(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
