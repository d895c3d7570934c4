import Crypto
import Foundation
import KMSAuditFormat
import KMSTokenSetup
import PKCS11

/// Signs audit checkpoints with an ECDSA P-256 key.
public protocol AuditSigner: Sendable {
    /// A DER ECDSA P-256 signature over `digest`, a SHA-256 value (the
    /// signer signs it as is; it does not hash again).
    func sign(digest: [UInt8]) async throws -> [UInt8]
    /// The key's DER SubjectPublicKeyInfo.
    var publicKeyDER: [UInt8] { get }
}

extension AuditSigner {
    /// Hex SHA-256 of the SubjectPublicKeyInfo: the `key` field of checkpoints.
    public var publicKeyID: String { AuditLine.hex(Array(SHA256.hash(data: publicKeyDER))) }
}

/// Signs with the token's audit key: an ECDSA P-256 pair labelled
/// `keyLabel` whose private half is sensitive, never extractable and
/// sign-only (made by `TokenSetup.ensureAuditKey`). The digest goes to the
/// token as `CKM_ECDSA` input; the raw `r || s` comes back as DER.
public struct HSMAuditSigner: AuditSigner {
    public static let keyLabel = TokenSetup.auditKeyLabel

    public let publicKeyDER: [UInt8]
    private let pool: SessionPool
    /// A token object's handle stays valid across this process's sessions;
    /// if the token was re-inserted it may not, and `sign` looks it up again.
    private let privateKey: ObjectHandle

    /// Finds the audit key pair, exports its public half and proves the two
    /// halves belong together with one test signature, so a mismatched pair
    /// fails here rather than every checkpoint failing verification later.
    public init(pool: SessionPool) async throws {
        let (privateKey, spki) = try await pool.withSession { s in
            let privateKey = try Self.findPrivateKey(s)
            let publicKeys = try s.findObjects([.class(.publicKey), .token(true), .label(Self.keyLabel)])
            guard publicKeys.count == 1 else {
                throw AuditLogError.auditKey("the token holds \(publicKeys.count) public keys labelled \(Self.keyLabel); expected one")
            }
            guard try Self.isP256(s, publicKeys[0]) else {
                throw AuditLogError.auditKey("the public key labelled \(Self.keyLabel) is not ECDSA P-256")
            }
            return (privateKey, try s.subjectPublicKeyInfo(of: publicKeys[0]))
        }
        self.pool = pool
        self.privateKey = privateKey
        self.publicKeyDER = spki

        let probe = Array("p11kms audit key self-test".utf8)
        let signature = try await sign(digest: Array(SHA256.hash(data: probe)))
        let publicKey = try P256.Signing.PublicKey(derRepresentation: spki)
        guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature),
              publicKey.isValidSignature(parsed, for: probe) else {
            throw AuditLogError.auditKey("the private and public keys labelled \(Self.keyLabel) are not one pair")
        }
    }

    public func sign(digest: [UInt8]) async throws -> [UInt8] {
        let key = privateKey
        let raw = try await pool.withSession { s in
            do {
                return try s.sign(digest, key: key, mechanism: .ecdsa, expectedLength: 64)
            } catch let error as PKCS11Error where error.code == .keyHandleInvalid || error.code == .objectHandleInvalid {
                return try s.sign(digest, key: Self.findPrivateKey(s), mechanism: .ecdsa, expectedLength: 64)
            }
        }
        return try ECDSASignature.derSignature(fromRaw: raw)
    }

    private static func findPrivateKey(_ s: Session) throws -> ObjectHandle {
        let found = try s.findObjects([.class(.privateKey), .token(true), .label(keyLabel)])
        guard found.count == 1 else {
            throw AuditLogError.auditKey(found.isEmpty
                ? "the token has no audit key (\(keyLabel)); run `p11kms token setup`"
                : "the token holds \(found.count) private keys labelled \(keyLabel); expected one")
        }
        guard try isP256(s, found[0]) else {
            throw AuditLogError.auditKey("the private key labelled \(keyLabel) is not ECDSA P-256")
        }
        return found[0]
    }

    private static func isP256(_ s: Session, _ key: ObjectHandle) throws -> Bool {
        let a = try s.attributes([.keyType, .ecParams], of: key)
        return KeyType(rawValue: a[0].ulongValue ?? 0) == .ec && a[1].value == NamedCurve.p256.ecParameters
    }
}
