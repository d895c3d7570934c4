import ArgumentParser
import Foundation
import JMESPath
import KMSClient
import KMSModel

// The plumbing shared by the aws-kms-style subcommands: the socket and output
// options, `fileb://` / `file://` inputs, JSON and text output, and AWS-style
// error reporting (exception name and message on stderr, exit status 1).

/// `--output json|text`.
enum KMSOutputFormat: String, ExpressibleByArgument, CaseIterable {
    case json, text
}

/// The options every KMS subcommand takes.
struct KMSOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The daemon's Unix socket.",
        discussion: "Default: $P11KMS_SOCKET, else ./.p11kms-dev/p11kms.sock when it exists and is yours (you own it "
            + "and its directory, and no one else can write to the directory; otherwise it is skipped with a warning), "
            + "else /run/p11kms/p11kms.sock.",
        valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp(
        "The output format: json (the response as AWS sends it: PascalCase members, base64 blobs, epoch-second "
            + "dates) or text (tab-separated values, aws-cli style).",
        valueName: "json|text"))
    var output: KMSOutputFormat = .json

    @Option(help: ArgumentHelp(
        "A JMESPath expression applied to the response, as aws's --query: e.g. KeyMetadata.KeyId, 'Keys[].KeyId', "
            + "'Aliases[?TargetKeyId==`<id>`].AliasName' or 'length(Keys)'. With --output text a blob prints as its "
            + "base64 text (pipe it to `base64 -d`).",
        valueName: "expression"))
    var query: String?

    /// Calls the daemon and prints the answer. Service errors are printed as
    /// aws prints them and exit 1; so do failures to reach the daemon.
    func call<Response: Encodable>(_ operation: KMSOperation,
                                   _ body: (KMSClient) async throws -> Response) async throws {
        let response: Response
        do {
            let client = try KMSClient(socketPath: socket)
            do {
                response = try await body(client)
                try? await client.shutdown()
            } catch {
                try? await client.shutdown()
                throw error
            }
        } catch let error as KMSError {
            KMSOutput.printError(
                "An error occurred (\(error.name.rawValue)) when calling the \(operation.rawValue) operation: \(error.message)")
            throw ExitCode(1)
        } catch let error as KMSClientError {
            KMSOutput.printError("p11kms: \(error.message)")
            throw ExitCode(1)
        }
        let text = try KMSOutput.render(response, format: output, query: query)
        if !text.isEmpty { print(text) }
    }

    /// As `call`, for operations whose answer is empty: prints nothing on success.
    func callEmpty(_ operation: KMSOperation, _ body: (KMSClient) async throws -> Void) async throws {
        try await call(operation) { client -> EmptyResponse in
            try await body(client)
            return EmptyResponse()
        }
    }
}

// MARK: - Inputs

/// Reads option values the way `aws` does.
enum KMSInput {
    /// A blob: `fileb://path` is the file's raw bytes; `file://path` is a text
    /// file holding base64; anything else is base64 text.
    static func blob(_ value: String, option: String) throws -> Data {
        if let path = strip(value, "fileb://") {
            return try read(path, option: option)
        }
        let text: String
        if let path = strip(value, "file://") {
            text = String(decoding: try read(path, option: option), as: UTF8.self)
        } else {
            text = value
        }
        let compact = text.filter { !$0.isWhitespace }
        guard let data = Data(base64Encoded: compact) else {
            throw ValidationError("\(option): not valid base64; give base64 text, or fileb://PATH for a file's raw bytes.")
        }
        return data
    }

    /// A string: `file://path` or `fileb://path` is the file's contents (UTF-8); anything else is itself.
    static func text(_ value: String, option: String) throws -> String {
        if let path = strip(value, "fileb://") ?? strip(value, "file://") {
            let data = try read(path, option: option)
            guard let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("\(option): \(path) is not UTF-8 text.")
            }
            return text
        }
        return value
    }

    /// A string map such as an encryption context: `k=v,k2=v2` shorthand, or a
    /// JSON object (also from `file://path`).
    static func map(_ value: String?, option: String) throws -> [String: String]? {
        guard let value else { return nil }
        let text = try self.text(value, option: option).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("{") {
            guard let object = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8)) else {
                throw ValidationError("\(option): not a JSON object of strings.")
            }
            return object
        }
        var map: [String: String] = [:]
        for pair in text.split(separator: ",", omittingEmptySubsequences: true) {
            guard let eq = pair.firstIndex(of: "=") else {
                throw ValidationError("\(option): '\(pair)' is not key=value (use k=v,k2=v2 or a JSON object).")
            }
            map[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        return map
    }

    /// Tags: each value `TagKey=k,TagValue=v`, or one JSON array of
    /// `{"TagKey": ..., "TagValue": ...}` (also from `file://path`).
    static func tags(_ values: [String], option: String = "--tags") throws -> [Tag]? {
        guard !values.isEmpty else { return nil }
        var tags: [Tag] = []
        for value in values {
            let text = try self.text(value, option: option).trimmingCharacters(in: .whitespacesAndNewlines)
            if text.hasPrefix("[") {
                guard let decoded = try? AWSJSONCodec.makeDecoder().decode([Tag].self, from: Data(text.utf8)) else {
                    throw ValidationError("\(option): not a JSON array of {\"TagKey\": ..., \"TagValue\": ...}.")
                }
                tags += decoded
                continue
            }
            let fields = try map(text, option: option) ?? [:]
            guard let key = fields["TagKey"], Set(fields.keys).isSubset(of: ["TagKey", "TagValue"]) else {
                throw ValidationError("\(option): '\(value)' is not TagKey=KEY,TagValue=VALUE.")
            }
            tags.append(Tag(tagKey: key, tagValue: fields["TagValue"] ?? ""))
        }
        return tags
    }

    /// An ISO 8601 date (`2030-01-01T00:00:00Z` or `2030-01-01`) or epoch seconds.
    static func date(_ value: String?, option: String) throws -> Date? {
        guard let value else { return nil }
        if let seconds = Double(value) { return Date(timeIntervalSince1970: seconds) }
        let full = ISO8601DateFormatter()
        if let date = full.date(from: value) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        if let date = day.date(from: value) { return date }
        throw ValidationError("\(option): '\(value)' is not an ISO 8601 date or epoch seconds.")
    }

    private static func strip(_ value: String, _ prefix: String) -> String? {
        value.hasPrefix(prefix) ? String(value.dropFirst(prefix.count)) : nil
    }

    private static func read(_ path: String, option: String) throws -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ValidationError("\(option): cannot read \(path): \(error.localizedDescription)")
        }
    }
}

/// Help text for the common kinds of option.
enum KMSHelp {
    static let keyId = "The key: key ID, key ARN, alias name (alias/...) or alias ARN."
    static func blob(_ what: String) -> String {
        "\(what): fileb://PATH for a file's raw bytes, or base64 text (file://PATH reads the base64 from a file)."
    }
    static let context = "The encryption context: k=v,k2=v2 or a JSON object (file://PATH reads it from a file)."
}

// MARK: - Output

/// A JSON value as the response renders: for `--query` and text output.
enum KMSJSONValue: Codable, Equatable {
    case null, bool(Bool), int(Int), double(Double), string(String)
    case array([KMSJSONValue]), object([String: KMSJSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([KMSJSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: KMSJSONValue].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// The members of AWS's model whose shape is a timestamp (botocore's KMS
    /// model, `type: timestamp`); they travel as epoch seconds.
    static let timestampMembers: Set<String> = [
        "CreationDate", "DeletionDate", "KeyCreationDate", "LastUpdatedDate", "NextRotationDate",
        "OnDemandRotationStartDate", "ParametersValidTo", "RotationDate", "Timestamp", "TrackingStartDate", "ValidTo",
    ]

    /// Timestamps as the aws CLI prints them: `2026-12-03T14:51:13.123000+00:00`,
    /// without the fraction for whole seconds (botocore's `isoformat()`; in UTC here,
    /// where aws uses the machine's zone).
    func withISO8601Timestamps() -> KMSJSONValue {
        switch self {
        case .object(let object):
            var out: [String: KMSJSONValue] = [:]
            for (key, member) in object {
                if Self.timestampMembers.contains(key), let seconds = member.number {
                    out[key] = .string(Self.iso8601(seconds))
                } else {
                    out[key] = member.withISO8601Timestamps()
                }
            }
            return .object(out)
        case .array(let items):
            return .array(items.map { $0.withISO8601Timestamps() })
        default:
            return self
        }
    }

    private var number: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    static func iso8601(_ seconds: Double) -> String {
        let whole = seconds.rounded(.down)
        let micros = Int(((seconds - whole) * 1_000_000).rounded())
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let c = utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: whole))
        let base = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
        return base + (micros == 0 ? "" : String(format: ".%06d", min(micros, 999_999))) + "+00:00"
    }

    /// As a JMESPath value (object keys in sorted order, as the JSON output has them).
    var jmesValue: JMESValue {
        switch self {
        case .null: .null
        case .bool(let b): .bool(b)
        case .int(let i): .number(Double(i))
        case .double(let d): .number(d)
        case .string(let s): .string(s)
        case .array(let a): .array(a.map(\.jmesValue))
        case .object(let o): .object(JMESObject(o.keys.sorted().map { ($0, o[$0]!.jmesValue) }))
        }
    }

    init(_ value: JMESValue) {
        switch value {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let d): self = d == d.rounded() && abs(d) < 9e15 ? .int(Int(d)) : .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(KMSJSONValue.init))
        case .object(let o): self = .object(Dictionary(uniqueKeysWithValues: o.keys.map { ($0, KMSJSONValue(o[$0]!)) }))
        }
    }

    /// A scalar as aws's text output prints it; nil for arrays and objects.
    var scalarText: String? {
        switch self {
        case .null: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): String(i)
        case .double(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .string(let s): s
        case .array, .object: nil
        }
    }
}

enum KMSOutput {
    static func printError(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// The response as `--output` and `--query` ask. Empty responses print nothing.
    static func render<Response: Encodable>(_ response: Response, format: KMSOutputFormat, query: String?) throws -> String {
        if response is EmptyResponse && query == nil { return "" }
        var value = try AWSJSONCodec.makeDecoder().decode(KMSJSONValue.self, from: AWSJSONCodec.encode(response))
        // Dates become ISO 8601 before the query sees them, as in the aws CLI.
        value = value.withISO8601Timestamps()
        if let query {
            let expression: JMESPath
            do { expression = try JMESPath(query) } catch {
                throw ValidationError("--query is not a JMESPath expression: \(error)")
            }
            do {
                value = KMSJSONValue(try expression.search(value.jmesValue))
            } catch {
                throw ValidationError("--query could not be applied: \(error)")
            }
        }
        switch format {
        case .json:
            let encoder = AWSJSONCodec.makeEncoder()
            encoder.outputFormatting.insert(.prettyPrinted)
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        case .text:
            var lines: [String] = []
            text(value, name: nil, into: &lines)
            return lines.joined(separator: "\n")
        }
    }

    /// aws-cli's text format: an object's scalar members on one line, tab-separated in
    /// member-name order (prefixed by the upper-cased member name when nested); each
    /// nested object, or object in a list, on lines of its own; a list of scalars on one line.
    private static func text(_ value: KMSJSONValue, name: String?, into lines: inout [String]) {
        let prefix = name.map { [$0.uppercased()] } ?? []
        switch value {
        case .object(let object):
            let keys = object.keys.sorted()
            let scalars = keys.compactMap { object[$0]!.scalarText }
            if !scalars.isEmpty { lines.append((prefix + scalars).joined(separator: "\t")) }
            for key in keys where object[key]!.scalarText == nil {
                text(object[key]!, name: key, into: &lines)
            }
        case .array(let items):
            let scalars = items.compactMap(\.scalarText)
            if !scalars.isEmpty { lines.append((prefix + scalars).joined(separator: "\t")) }
            for item in items where item.scalarText == nil {
                text(item, name: name, into: &lines)
            }
        default:
            lines.append((prefix + [value.scalarText ?? ""]).joined(separator: "\t"))
        }
    }
}

// The wire enumerations as option values: a value outside them is a usage
// error naming the subcommand, and --help lists the choices.
extension KeySpec: ExpressibleByArgument {}
extension KeyUsageType: ExpressibleByArgument {}
extension Origin: ExpressibleByArgument {}
extension EncryptionAlgorithm: ExpressibleByArgument {}
extension SigningAlgorithm: ExpressibleByArgument {}
extension MacAlgorithm: ExpressibleByArgument {}
extension DataKeySpec: ExpressibleByArgument {}
extension DataKeyPairSpec: ExpressibleByArgument {}
extension MessageType: ExpressibleByArgument {}
extension WrappingAlgorithm: ExpressibleByArgument {}
extension WrappingKeySpec: ExpressibleByArgument {}
extension ExpirationModel: ExpressibleByArgument {}
