import Foundation
import KMSModel
import PKCS11
import Synchronization

/// The daemon's extra tokens (`[[tokens]]`), by name: how the engine finds
/// one (module load, slot scan). Finding is synchronous and is run on the
/// main pool's threads, never on Swift's cooperative pool; the engine then
/// logs in with the custom key store's `KeyStorePassword`.
public struct CustomKeyStoreTokens: Sendable {
    public var find: [String: @Sendable () throws -> Token]
    /// Sessions per custom key store.
    public var poolSize: Int

    public init(_ find: [String: @Sendable () throws -> Token] = [:], poolSize: Int = 4) {
        self.find = find
        self.poolSize = poolSize
    }

    /// A token's name, the store's CloudHsmClusterId: the model's
    /// CloudHsmClusterIdType, cluster-[2-7a-zA-Z]{11,16}.
    public static func isValidName(_ s: String) -> Bool {
        guard s.hasPrefix("cluster-") else { return false }
        let rest = s.dropFirst(8)
        return (11...16).contains(rest.count)
            && rest.allSatisfy { ("2"..."7").contains($0) || ("a"..."z").contains($0) || ("A"..."Z").contains($0) }
    }
}

/// What is connected now: a pool and a vault (token storage) per connected
/// custom key store, and the failure of the last attempt of the others.
final class CustomKeyStoreConnections: Sendable {
    struct Connection: Sendable {
        var state: ConnectionState
        var error: ConnectionErrorCode?
        var pool: SessionPool?
        var vault: KeyVault?
    }

    private let connections = Mutex<[String: Connection]>([:])

    func connection(_ id: String) -> Connection {
        connections.withLock { $0[id] } ?? Connection(state: .disconnected)
    }

    func set(_ id: String, _ connection: Connection?) {
        connections.withLock { $0[id] = connection }
    }

    /// Takes the connection out (to close it), leaving it disconnected.
    func remove(_ id: String) -> Connection? {
        connections.withLock { $0.removeValue(forKey: id) }
    }

    var all: [String: Connection] { connections.withLock { $0 } }
}

extension KMSEngine {
    /// The vault a key's material is in: the daemon's own token, or its
    /// custom key store's, which must be connected.
    func vault(for key: KeyRecord) throws -> KeyVault {
        guard let storeID = key.customKeyStoreID else { return vault }
        let c = customKeyStoreConnections.connection(storeID)
        guard c.state == .connected, let v = c.vault else {
            throw KMSError.invalidState("\(arn(key)) is in custom key store \(storeID), which is "
                + "\(c.state.rawValue); connect it with ConnectCustomKeyStore.")
        }
        return v
    }

    /// The pool of a custom key store that must be connected (CreateKey, GenerateRandom).
    func connectedStore(_ id: String) throws -> (pool: SessionPool, vault: KeyVault) {
        let c = customKeyStoreConnections.connection(id)
        guard c.state == .connected, let pool = c.pool, let vault = c.vault else {
            throw KMSError(.customKeyStoreInvalidState, "Custom key store \(id) is \(c.state.rawValue); connect it "
                + "with ConnectCustomKeyStore first.")
        }
        return (pool, vault)
    }

    /// Logs in to the store's token with its password and opens a vault
    /// there; a failure leaves it FAILED with the model's error code.
    func connect(_ record: CustomKeyStoreRecord) async {
        do {
            let pin = try await revealPassword(record)
            let tokens = configuration.customKeyStoreTokens
            guard let find = tokens.find[record.clusterID] else {
                customKeyStoreConnections.set(record.id, CustomKeyStoreConnections.Connection(state: .failed, error: .clusterNotFound))
                return
            }
            let token = try await pool.runBlocking { try find() }
            // Never the daemon's own token: a second login there, and its
            // logout on disconnect, would log the daemon's own sessions out,
            // and start-up reconciliation would take the store's key objects
            // for orphans. Checked before any session is opened on it.
            if token.serialNumber == pool.token.serialNumber && token.label == pool.token.label {
                customKeyStoreConnections.set(record.id, CustomKeyStoreConnections.Connection(state: .failed, error: .internalError))
                return
            }
            let storePool = try await pool.runBlocking {
                try SessionPool(token: token, pin: PIN(pin), configuration: .init(maxSessions: tokens.poolSize))
            }
            do {
                let slot = storePool.token.slot
                let probed = try await storePool.withSession { try TokenProfile.probe($0, slot: slot) }
                let storeVault = try await KeyVault(pool: storePool, profile: configuration.adjustProfile?(probed) ?? probed,
                                                    mode: .token, cacheCapacity: 1)
                customKeyStoreConnections.set(record.id, CustomKeyStoreConnections.Connection(state: .connected, pool: storePool, vault: storeVault))
            } catch {
                try? await storePool.shutdown()
                throw error
            }
        } catch let error as PKCS11Error {
            let code: ConnectionErrorCode = switch error.code {
            case .pinIncorrect, .pinInvalid, .pinLenRange: .invalidCredentials
            case .pinLocked: .userLockedOut
            case .tokenNotPresent, .slotIDInvalid, .tokenNotRecognized: .clusterNotFound
            default: .internalError
            }
            customKeyStoreConnections.set(record.id, CustomKeyStoreConnections.Connection(state: .failed, error: code))
        } catch is PKCS11UsageError {
            // The token is not there (or not uniquely): the "cluster" is missing.
            customKeyStoreConnections.set(record.id, CustomKeyStoreConnections.Connection(state: .failed, error: .clusterNotFound))
        } catch {
            customKeyStoreConnections.set(record.id, CustomKeyStoreConnections.Connection(state: .failed, error: .internalError))
        }
    }

    /// Closes a store's pool; its keys refuse use until it is connected again.
    func disconnect(_ id: String) async {
        if let c = customKeyStoreConnections.remove(id), let pool = c.pool { try? await pool.shutdown() }
    }

    /// Connects the stores that were connected when the daemon last stopped.
    func reconnectCustomKeyStores() async throws {
        for record in try await store.customKeyStores() where record.connected { await connect(record) }
    }

    /// Closes every custom key store's pool (daemon shutdown).
    public func closeCustomKeyStores() async {
        for id in customKeyStoreConnections.all.keys { await disconnect(id) }
    }

    // MARK: The password, encrypted in the daemon's own token

    static let secretsKeyLabel = "p11kms-store-secrets"

    /// The AES-256 key in the daemon's own token that encrypts custom key
    /// store passwords (encrypt/decrypt only, sensitive, never extractable),
    /// made on first use.
    private func secretsKey() async throws -> ObjectHandle {
        try await pool.withTokenWrite { s in
            if let key = try s.findObjects([.class(.secretKey), .token(true), .label(Self.secretsKeyLabel)]).first { return key }
            return try s.generateKey(.aes(bits: 256), KeyOptions(usage: [.encrypt, .decrypt], token: true,
                                                                 label: Self.secretsKeyLabel))
        }
    }

    func encryptPassword(_ password: String, storeID: String) async throws -> [UInt8] {
        let key = try await secretsKey()
        let ivPolicy = profile.gcmIVPolicy
        let box = try await pool.withSession { s in
            try s.aesGCMSeal(Array(password.utf8), key: key, aad: Array("p11kms-cks-password/\(storeID)".utf8), ivPolicy: ivPolicy)
        }
        return box.iv + box.tag + box.ciphertext
    }

    private func revealPassword(_ record: CustomKeyStoreRecord) async throws -> String {
        let key = try await secretsKey()
        let bytes = record.encryptedPassword
        guard bytes.count > Session.gcmIVLength + Session.gcmTagLength else {
            throw KMSError.internalError("the stored password of \(record.id) is malformed")
        }
        let box = GCMSealedBox(iv: Array(bytes[0..<12]), ciphertext: Array(bytes[28...]), tag: Array(bytes[12..<28]))
        let aad = Array("p11kms-cks-password/\(record.id)".utf8)
        let plain = try await pool.withSession { s in try s.aesGCMOpen(box, key: key, aad: aad) }
        return String(decoding: plain, as: UTF8.self)
    }
}
