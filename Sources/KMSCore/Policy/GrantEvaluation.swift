import KMSModel

/// Which grants allow what: the rules of AWS's grants, on Unix principals.
enum GrantRules {
    /// Operations whose requests carry an encryption context, so that a
    /// constraint can be tested. The constraint does not apply to
    /// DescribeKey and RetireGrant; for CreateGrant it bounds the new grant.
    static let contextOperations: Set<GrantOperation> = [
        .encrypt, .decrypt, .reEncryptFrom, .reEncryptTo, .generateDataKey, .generateDataKeyWithoutPlaintext,
        .generateDataKeyPair, .generateDataKeyPairWithoutPlaintext,
    ]

    /// What a grant on `key` may permit: what the key can do, plus the
    /// operations every key has.
    static func operations(for key: KeyRecord) -> Set<GrantOperation> {
        var ops: Set<GrantOperation> = [.createGrant, .retireGrant, .describeKey]
        switch key.keyUsage {
        case .encryptDecrypt where key.keySpec == .symmetricDefault:
            ops.formUnion(contextOperations)
        case .encryptDecrypt:
            ops.formUnion([.encrypt, .decrypt, .reEncryptFrom, .reEncryptTo, .getPublicKey])
        case .signVerify:
            ops.formUnion([.sign, .verify, .getPublicKey])
        case .generateVerifyMac:
            ops.formUnion([.generateMac, .verifyMac])
        case .keyAgreement:
            ops.formUnion([.deriveSharedSecret, .getPublicKey])
        }
        return ops
    }

    /// `Operations`: at least one, each once, each one the key supports.
    static func validOperations(_ requested: [GrantOperation]?, for key: KeyRecord, arn: String) throws -> [GrantOperation] {
        let requested = try Validate.required(requested, "Operations")
        guard !requested.isEmpty else { throw KMSError.validation("Operations must name at least one operation.") }
        var seen = Set<GrantOperation>()
        let unique = requested.filter { seen.insert($0).inserted }
        let supported = operations(for: key)
        let unsupported = unique.filter { !supported.contains($0) }
        guard unsupported.isEmpty else {
            throw KMSError.validation("A grant on \(arn) (\(key.keySpec.rawValue), \(key.keyUsage.rawValue)) cannot allow "
                                      + unsupported.map(\.rawValue).joined(separator: ", ") + "; it may allow "
                                      + supported.map(\.rawValue).sorted().joined(separator: ", ") + ".")
        }
        return unique
    }

    /// `Constraints`: one of the two forms, 1 to 8 pairs, only on symmetric
    /// encryption keys (the only ones whose operations take a context).
    static func validConstraints(_ c: GrantConstraints?, for key: KeyRecord) throws -> GrantConstraints? {
        guard let c, c.encryptionContextSubset != nil || c.encryptionContextEquals != nil else { return nil }
        guard c.encryptionContextSubset == nil || c.encryptionContextEquals == nil else {
            throw KMSError.validation("Constraints may hold EncryptionContextSubset or EncryptionContextEquals, not both.")
        }
        guard key.keySpec == .symmetricDefault && key.keyUsage == .encryptDecrypt else {
            throw KMSError.validation("Grant constraints apply only to symmetric encryption keys: operations with "
                                      + "\(key.keySpec.rawValue) keys take no encryption context.")
        }
        let pairs = (c.encryptionContextSubset ?? c.encryptionContextEquals)!
        guard (1...8).contains(pairs.count) else {
            throw KMSError.validation("A grant constraint holds 1 to 8 encryption context pairs; this one has \(pairs.count).")
        }
        for (k, v) in pairs {
            guard v.utf16.count <= 384 else {
                throw KMSError.validation("The value of '\(k.prefix(64))' in a grant constraint exceeds 384 characters.")
            }
        }
        try EncryptionContext.validate(pairs)
        return c
    }

    /// `Name`: 1 to 256 of letters, digits, ':', '/', '_' and '-'.
    static func validName(_ name: String?) throws {
        guard let name else { return }
        try Validate.length(name, "Name", max: 256)
        guard name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil
                                                              || ":/_-".unicodeScalars.contains($0)) }) else {
            throw KMSError.validation("Name may hold only letters, digits, ':', '/', '_' and '-'.")
        }
    }
}

extension GrantConstraints {
    /// Whether a request's encryption context meets the constraint. Values
    /// compare by Unicode scalars, as key policies compare them.
    func admits(_ context: [String: String]) -> Bool {
        func same(_ a: String?, _ b: String) -> Bool { a.map { $0.unicodeScalars.elementsEqual(b.unicodeScalars) } ?? false }
        if let equals = encryptionContextEquals {
            return equals.count == context.count && equals.allSatisfy { same(context[$0.key], $0.value) }
        }
        if let subset = encryptionContextSubset {
            return subset.allSatisfy { same(context[$0.key], $0.value) }
        }
        return true
    }

    /// Whether every context this constraint admits is admitted by `parent`:
    /// a grant made through a constrained grant is at least as strict.
    func isAtLeastAsStrict(as parent: GrantConstraints?) -> Bool {
        guard let parent else { return true }
        if let equals = encryptionContextEquals { return parent.admits(equals) }
        if let subset = encryptionContextSubset, parent.encryptionContextEquals == nil {
            return parent.admits(subset)   // every superset of `subset` holds the parent's pairs
        }
        return false
    }
}

extension GrantRecord {
    var grantee: GrantPrincipal? { try? GrantPrincipal(parsing: granteePrincipal, member: "GranteePrincipal") }
    var retiring: GrantPrincipal? { retiringPrincipal.flatMap { try? GrantPrincipal(parsing: $0, member: "RetiringPrincipal") } }

    /// Whether this grant lets `caller` perform `operation` in a request
    /// with these conditions.
    func allows(_ operation: GrantOperation, caller: Principal, conditions: RequestConditions) -> Bool {
        guard operations.contains(operation), grantee?.matches(caller) == true else { return false }
        switch operation {
        case .createGrant:
            // The new grant may allow only what this one does, as strictly.
            guard let requested = conditions.requestedGrant else { return false }
            return requested.operations.allSatisfy(operations.contains)
                && (requested.constraints ?? GrantConstraints()).isAtLeastAsStrict(as: constraints)
        case _ where GrantRules.contextOperations.contains(operation):
            guard let constraints else { return true }
            return constraints.admits(conditions.encryptionContext ?? [:])
        default:
            return true
        }
    }
}

extension KMSEngine {
    /// The first grant on `key` (in grant id order) that allows `action`
    /// to `caller`. RetireGrant is never allowed this way: a grant's
    /// RetireGrant permits retiring that grant only (see `retireGrant`).
    func grantAllowing(_ action: String, key: KeyRecord, caller: Principal, conditions: RequestConditions) throws -> GrantRecord? {
        guard action.hasPrefix("kms:"), let operation = GrantOperation(rawValue: String(action.dropFirst(4))),
              operation != .retireGrant else { return nil }
        return try store.grantsNow(keyID: key.keyID).first { $0.allows(operation, caller: caller, conditions: conditions) }
    }
}
