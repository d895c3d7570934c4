import PKCS11

/// The domain key's wrap and unwrap templates, and whether the token holds to
/// them (issue #14).
///
/// Without `CKA_UNWRAP_TEMPLATE`, anyone with the user PIN could unwrap a
/// version's blob from the metadata store into an extractable, non-sensitive
/// object and read `CKA_VALUE`: the key in plaintext. With it, every key
/// unwrapped under the domain key is forced sensitive and non-extractable,
/// whatever the caller's template says — if the token enforces it, which is
/// why it is probed rather than assumed.
extension TokenSetup {
    /// Forced on every key unwrapped under the domain key.
    public static let domainUnwrapTemplate: [Attribute] = [.sensitive(true), .extractable(false)]
    /// What a key must be to be wrapped under the domain key. `CKA_EXTRACTABLE
    /// = false` cannot be here: only an extractable key can be wrapped at all.
    public static let domainWrapTemplate: [Attribute] = [.sensitive(true)]

    static var domainKeyTemplates: [Attribute] {
        [.unwrapTemplate(domainUnwrapTemplate), .wrapTemplate(domainWrapTemplate)]
    }

    /// What the probe found.
    public enum UnwrapEnforcement: Sendable, Hashable, CustomStringConvertible {
        /// An unwrap into an extractable, non-sensitive object was refused.
        case enforced
        /// It succeeded: the key material could leave the token.
        case notEnforced(String)

        public var isEnforced: Bool { self == .enforced }
        public var description: String {
            switch self {
            case .enforced: "enforced"
            case .notEnforced(let why): "not enforced: \(why)"
            }
        }
    }

    /// Tries the extracting unwrap on a throwaway blob: a fresh session AES
    /// key, wrapped under `domainKey`, unwrapped with `CKA_SENSITIVE = false`
    /// and `CKA_EXTRACTABLE = true`. SoftHSM 2.6.1 answers
    /// `CKR_TEMPLATE_INCONSISTENT` when the domain key has the template.
    /// Nothing of the probe outlives the call.
    public static func probeUnwrapEnforcement(_ session: Session, domainKey: ObjectHandle,
                                              mechanism: Mechanism) throws -> UnwrapEnforcement {
        let probe = try session.generateKey(.aes(bits: 128), KeyOptions(
            usage: [.encrypt], token: false, sensitive: true, extractable: true, label: "p11kms-unwrap-probe"))
        let blob: [UInt8]
        do {
            defer { try? session.destroyObject(probe) }
            blob = try session.wrapKey(probe, with: domainKey, mechanism: mechanism)
        }
        let extracting: [Attribute] = [.class(.secretKey), .keyType(.aes), .token(false), .private(true),
                                       .sensitive(false), .extractable(true), Attribute(.encrypt, bool: true)]
        do {
            let unwrapped = try session.unwrapKey(blob, with: domainKey, mechanism: mechanism, template: extracting)
            try? session.destroyObject(unwrapped)
            return .notEnforced("the token unwrapped a key under the domain key into an extractable, non-sensitive object "
                + "(the domain key has no CKA_UNWRAP_TEMPLATE, or the token ignores it; `p11kms token setup --upgrade` adds it)")
        } catch let error as PKCS11Error where [.templateInconsistent, .attributeValueInvalid, .templateIncomplete]
            .contains(error.code) {
            return .enforced
        }
    }

    /// Gives an existing domain key its templates (`token setup --upgrade`),
    /// where the token lets them be set after creation. Returns false when the
    /// key already refused the extracting unwrap, so nothing was changed.
    @discardableResult
    public static func upgradeDomainKey(_ session: Session, mechanism: Mechanism) throws -> Bool {
        let found = try session.findObjects([.class(.secretKey), .token(true), .label(domainKeyLabel)])
        guard found.count == 1 else { throw PKCS11UsageError("the token holds \(found.count) domain keys; expected one") }
        if try probeUnwrapEnforcement(session, domainKey: found[0], mechanism: mechanism).isEnforced { return false }
        do {
            try session.setAttributes(domainKeyTemplates, of: found[0])
        } catch let error as PKCS11Error {
            throw PKCS11UsageError("the token does not let the domain key's CKA_UNWRAP_TEMPLATE be set after creation "
                + "(\(error.code)); the key must be replaced and every version wrapped under it re-wrapped: start "
                + "p11kmsd once with --replace-domain-key, which does both inside the HSM")
        }
        let after = try probeUnwrapEnforcement(session, domainKey: found[0], mechanism: mechanism)
        guard after.isEnforced else {
            throw PKCS11UsageError("the domain key now has its unwrap template, but the token still \(after)")
        }
        return true
    }
}
