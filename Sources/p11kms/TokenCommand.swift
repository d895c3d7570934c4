import ArgumentParser
import Foundation
import PKCS11
import SoftHSMTestSupport

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Administer tokens straight over PKCS#11.",
        subcommands: [ListSlots.self, ListMechanisms.self, TokenSetupCommand.self, SelfTest.self,
                      TokenInfoCommand.self, TokenInitCommand.self, TokenInitPINCommand.self, TokenChangePINCommand.self,
                      TokenListObjectsCommand.self, TokenDeleteObjectCommand.self, TokenRandomCommand.self])
}

/// Which module to load: --module, $P11KMS_MODULE, or SoftHSM2 (configured
/// from --state-dir's softhsm2.conf when given).
struct ModuleOptions: ParsableArguments {
    @Option(help: "Path of the PKCS#11 module (default: $P11KMS_MODULE, else SoftHSM2).")
    var module: String?

    @Option(help: ArgumentHelp("Dev state directory whose SoftHSM2 token to use (as made by 'token self-test').",
                               valueName: "dir"))
    var stateDir: String?

    func load() throws -> PKCS11Module {
        if let stateDir {
            let config = stateDir + "/softhsm2.conf"
            guard FileManager.default.fileExists(atPath: config) else {
                throw ValidationError("\(stateDir) has no softhsm2.conf; run 'p11kms token self-test --state-dir \(stateDir)' first")
            }
            setenv("SOFTHSM2_CONF", config, 1)
        }
        let path = try module ?? ProcessInfo.processInfo.environment["P11KMS_MODULE"] ?? SoftHSM.modulePath()
        return try PKCS11Module.load(path: path)
    }
}

struct ListSlots: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-slots", abstract: "List slots and the tokens in them.")

    @OptionGroup var moduleOptions: ModuleOptions
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() throws {
        let module = try moduleOptions.load()
        let info = try module.info()
        var rows: [[String: JSONValue]] = []
        for slot in try module.slots(withTokenOnly: false) {
            let slotInfo = try slot.info()
            var row: [String: JSONValue] = ["slot": .int(Int(slot.id.rawValue)), "description": .string(slotInfo.description)]
            if slotInfo.isTokenPresent {
                let t = try slot.tokenInfo()
                row["token"] = .object([
                    "label": .string(t.label), "manufacturer": .string(t.manufacturerID), "model": .string(t.model),
                    "serial": .string(t.serialNumber), "initialized": .bool(t.isInitialized),
                    "user_pin_initialized": .bool(t.isUserPINInitialized),
                ])
            }
            rows.append(row)
        }
        if json {
            print(JSONValue.object(["module": .string(module.path),
                                    "manufacturer": .string(info.manufacturerID),
                                    "library": .string(info.libraryDescription + " " + info.libraryVersion.description),
                                    "slots": .array(rows.map(JSONValue.object))]).rendered)
            return
        }
        print("Module \(module.path): \(info.manufacturerID), \(info.libraryDescription) \(info.libraryVersion), Cryptoki \(info.cryptokiVersion)")
        for row in rows {
            print("Slot \(row["slot"]!.text): \(row["description"]!.text)")
            if case .object(let t)? = row["token"] {
                let state = t["initialized"] == .bool(true) ? "initialized" : "not initialized"
                print("  token label \"\(t["label"]!.text)\", serial \(t["serial"]!.text), \(t["model"]!.text), \(state)")
            } else {
                print("  (no token)")
            }
        }
    }
}

struct ListMechanisms: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-mechanisms", abstract: "List the mechanisms a token supports, with key sizes and uses.")

    @OptionGroup var moduleOptions: ModuleOptions
    @Option(help: "Label of the token (default: the only initialised token).") var tokenLabel: String?
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() throws {
        let module = try moduleOptions.load()
        let token = try selectToken(module, label: tokenLabel)
        var rows: [JSONValue] = []
        var lines: [String] = []
        for m in try token.slot.mechanisms() {
            let info = try token.slot.mechanismInfo(m)
            rows.append(.object(["mechanism": .string(m.description), "value": .int(Int(m.rawValue)),
                                 "min_key_size": .int(info.minKeySize), "max_key_size": .int(info.maxKeySize),
                                 "flags": .array(info.usage.names.map(JSONValue.string))]))
            lines.append("\(m.description.padding(toLength: 30, withPad: " ", startingAt: 0)) keys \(info.minKeySize)-\(info.maxKeySize)  \(info.usage.names.joined(separator: ","))")
        }
        print(json ? JSONValue.array(rows).rendered : lines.joined(separator: "\n"))
    }
}

func selectToken(_ module: PKCS11Module, label: String?) throws -> Token {
    if let label { return try module.token(label: label) }
    let initialised = try module.slots().filter { try $0.tokenInfo().isInitialized }
    guard initialised.count == 1 else {
        throw ValidationError("\(initialised.count) initialised tokens; choose one with --token-label")
    }
    return try module.token(slotID: initialised[0].id)
}
