import ArgumentParser
import Foundation
import PKCS11

/// What list-objects shows of an object: never its value.
struct TokenObjectSummary {
    var handle: ObjectHandle
    var label: String?
    var objectClass: ObjectClass?
    var keyType: KeyType?
    var id: [UInt8]
    var flags: [String: Bool]

    static let flagAttributes: [(String, AttributeType)] = [
        ("token", .token), ("private", .private), ("sensitive", .sensitive), ("extractable", .extractable),
    ]

    init(_ session: Session, _ handle: ObjectHandle) {
        self.handle = handle
        // One attribute at a time: an object lacks those its class does not have.
        label = (try? session.attribute(.label, of: handle)).map(\.stringValue)
        objectClass = (try? session.ulongAttribute(.class, of: handle)).map(ObjectClass.init(rawValue:))
        keyType = (try? session.ulongAttribute(.keyType, of: handle)).map(KeyType.init(rawValue:))
        id = (try? session.attribute(.id, of: handle).value) ?? []
        flags = [:]
        for (name, type) in Self.flagAttributes {
            if let v = try? session.boolAttribute(type, of: handle) { flags[name] = v }
        }
    }

    var idHex: String { id.map { String(format: "%02x", $0) }.joined() }

    var json: JSONValue {
        var o: [String: JSONValue] = [
            "label": .string(label ?? ""), "class": .string(objectClass?.name ?? "unknown"), "id": .string(idHex),
        ]
        if let keyType { o["key_type"] = .string(keyType.name) }
        for (name, value) in flags { o[name] = .bool(value) }
        return .object(o)
    }

    var line: String {
        let flagText = Self.flagAttributes.compactMap { name, _ in flags[name].map { "\(name)=\($0 ? "yes" : "no")" } }
        return "\(objectClass?.name ?? "unknown") \"\(label ?? "")\""
            + (keyType.map { " \($0.name)" } ?? "") + " id=\(idHex.isEmpty ? "-" : idHex) " + flagText.joined(separator: " ")
    }
}

func tokenParseHexID(_ text: String) throws -> [UInt8] {
    var hex = Substring(text.lowercased())
    if hex.hasPrefix("0x") { hex = hex.dropFirst(2) }
    guard !hex.isEmpty, hex.count % 2 == 0, hex.allSatisfy(\.isHexDigit) else {
        throw ValidationError("--id must be an even number of hex digits")
    }
    var bytes: [UInt8] = []
    var i = hex.startIndex
    while i < hex.endIndex {
        let j = hex.index(i, offsetBy: 2)
        bytes.append(UInt8(hex[i..<j], radix: 16)!)
        i = j
    }
    return bytes
}

/// `p11kms token list-objects`.
struct TokenListObjectsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-objects",
        abstract: "List a token's objects: label, class, key type, id and flags (never values).",
        discussion: "Without a PIN only public objects are visible; with --pin-file/--pin-env the user's private ones too.")

    @OptionGroup var moduleOptions: ModuleOptions
    @Option(help: "Label of the token (default: the only initialised token).") var tokenLabel: String?
    @OptionGroup var pin: TokenUserPINOptions
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() throws {
        let module = try moduleOptions.load()
        let token = try selectToken(module, label: tokenLabel)
        let summaries = try withTokenSession(token, pin: try pin.optional(), readWrite: false) { s in
            try s.findObjects([]).map { TokenObjectSummary(s, $0) }
        }.sorted { ($0.label ?? "", $0.objectClass?.rawValue ?? 0) < ($1.label ?? "", $1.objectClass?.rawValue ?? 0) }
        if json {
            print(JSONValue.array(summaries.map(\.json)).rendered)
        } else if summaries.isEmpty {
            print("(no objects)")
        } else {
            summaries.forEach { print($0.line) }
        }
    }
}

/// `p11kms token delete-object`.
struct TokenDeleteObjectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-object",
        abstract: "Destroy the object(s) with a label or id (C_DestroyObject).",
        discussion: "Refuses when more than one object matches, unless --all is given. Exit status 1 when none matches.")

    @OptionGroup var moduleOptions: ModuleOptions
    @Option(help: "Label of the token (default: the only initialised token).") var tokenLabel: String?
    @OptionGroup var pin: TokenUserPINOptions
    @Option(help: "Label of the object.") var label: String?
    @Option(help: ArgumentHelp("CKA_ID of the object, in hex.", valueName: "hex")) var id: String?
    @Flag(help: "Destroy every object that matches.") var all = false

    func validate() throws {
        guard (label == nil) != (id == nil) else { throw ValidationError("give exactly one of --label and --id") }
        if let id { _ = try tokenParseHexID(id) }
    }

    func run() throws {
        let module = try moduleOptions.load()
        let token = try selectToken(module, label: tokenLabel)
        let template: [Attribute] = try label.map { [.label($0)] } ?? [.id(tokenParseHexID(id!))]
        let what = label.map { "label \"\($0)\"" } ?? "id \(id!)"
        let deleted = try withTokenSession(token, pin: try pin.required()) { s -> [TokenObjectSummary] in
            let found = try s.findObjects(template).map { TokenObjectSummary(s, $0) }
            guard !found.isEmpty else { throw TokenCommandFailure("no object with \(what)") }
            guard found.count == 1 || all else {
                throw TokenCommandFailure("\(found.count) objects have \(what); give --all to destroy them all:\n"
                                          + found.map { "  " + $0.line }.joined(separator: "\n"))
            }
            for object in found { try s.destroyObject(object.handle) }
            return found
        }
        for object in deleted { print("deleted \(object.line)") }
    }
}

/// A refusal that exits 1 with its message on stderr.
struct TokenCommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
