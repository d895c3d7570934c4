import Foundation
import KMSModel

/// Member validation, one small named rule each, with AWS's limits from the
/// botocore model. Every failure names the member.
enum Validate {
    static func required<T>(_ value: T?, _ member: String) throws -> T {
        guard let value else { throw KMSError.validation("\(member) is required.") }
        return value
    }

    static func length(_ value: String, _ member: String, min: Int = 1, max: Int) throws {
        let n = value.utf16.count
        guard n >= min && n <= max else {
            throw KMSError.validation("\(member) must be \(min) to \(max) characters long; it has \(n).")
        }
    }

    static func blob(_ value: Data?, _ member: String, min: Int = 1, max: Int) throws -> [UInt8] {
        let bytes = Array(try required(value, member))
        guard bytes.count >= min && bytes.count <= max else {
            throw KMSError.validation("\(member) must be \(min) to \(max) bytes long; it has \(bytes.count).")
        }
        return bytes
    }

    static func range(_ value: Int, _ member: String, _ range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            throw KMSError.validation("\(member) must be between \(range.lowerBound) and \(range.upperBound); it is \(value).")
        }
    }

    /// Plaintext and messages: 1 to 4096 bytes.
    static func plaintext(_ value: Data?, _ member: String = "Plaintext") throws -> [UInt8] {
        try blob(value, member, max: 4096)
    }

    static func ciphertext(_ value: Data?, _ member: String = "CiphertextBlob") throws -> [UInt8] {
        try blob(value, member, max: 6144)
    }

    static func description(_ value: String?) throws {
        if let value { try length(value, "Description", min: 0, max: 8192) }
    }

    static func grantTokens(_ tokens: [String]?) throws {
        guard let tokens else { return }
        guard tokens.count <= 10 else { throw KMSError.validation("GrantTokens may hold at most 10 tokens.") }
        for t in tokens {
            try length(t, "GrantTokens", max: 8192)
            // Grants here take effect at once, so a token adds no permission;
            // it must still be one this service issued.
            guard GrantToken.grantID(in: t) != nil else {
                throw KMSError(.invalidGrantToken, "A grant token in GrantTokens is not one CreateGrant of this service returned.")
            }
        }
    }

    /// `Limit`: 1 to 1000, default 100.
    static func limit(_ value: Int?) throws -> Int {
        guard let value else { return 100 }
        try range(value, "Limit", 1...1000)
        return value
    }

    static func marker(_ value: String?) throws {
        guard let value else { return }
        guard (1...1024).contains(value.utf16.count) else {
            throw KMSError(.invalidMarker, "Marker must be 1 to 1024 characters long.")
        }
    }

    /// `alias/` followed by letters, digits, `/`, `_` and `-`, answered as AWS
    /// answers: a name outside the model's pattern or without the `alias/`
    /// prefix is a ValidationException; `alias/` alone or with a `:` is an
    /// InvalidAliasNameException; `alias/aws/` is reserved for AWS managed keys
    /// and refused with NotAuthorizedException (the model names no exception for
    /// it; moto and local-kms, both checked against AWS, answer this one).
    static func aliasName(_ name: String?) throws -> String {
        let name = try required(name, "AliasName")
        try length(name, "AliasName", max: 256)
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/_-")
        guard name.unicodeScalars.allSatisfy({ allowed.contains($0) }) else {
            throw KMSError.validation("AliasName may hold only letters, digits, '/', '_' and '-' "
                                      + "(the pattern ^[a-zA-Z0-9:/_-]+$); '\(name)' does not.")
        }
        guard name.hasPrefix("alias/") else {
            throw KMSError.validation("Alias must start with the prefix \"alias/\": write 'alias/\(name)'.")
        }
        guard name.count > 6, !name.contains(":") else {
            throw KMSError(.invalidAliasName,
                           "AliasName must be 'alias/' followed by letters, digits, '/', '_' or '-'; got '\(name)'.")
        }
        guard !name.hasPrefix("alias/aws/") else {
            throw KMSError(.notAuthorized, "Alias names beginning with 'alias/aws/' are reserved for AWS managed keys; "
                           + "choose another name.")
        }
        return name
    }

    static func tags(_ tags: [Tag]) throws {
        for tag in tags {
            guard (1...128).contains(tag.tagKey.utf16.count), tag.tagValue.utf16.count <= 256 else {
                throw KMSError(.tag, "Tag keys must be 1 to 128 characters and values at most 256; '\(tag.tagKey)' is not.")
            }
            guard !tag.tagKey.lowercased().hasPrefix("aws:") else {
                throw KMSError(.tag, "Tag keys beginning with 'aws:' are reserved.")
            }
        }
        guard Set(tags.map(\.tagKey)).count == tags.count else {
            throw KMSError(.tag, "Each tag key may appear only once in a request.")
        }
    }

    static let maximumTagsPerKey = 50

    /// `Policy`: printable text up to the model's 131072 characters, and JSON.
    static func policy(_ policy: String?) throws -> String {
        let policy = try required(policy, "Policy")
        try length(policy, "Policy", max: 131_072)
        let printable = policy.unicodeScalars.allSatisfy {
            $0 == "\t" || $0 == "\n" || $0 == "\r" || ($0.value >= 0x20 && $0.value <= 0xFF)
        }
        guard printable else {
            throw KMSError(.malformedPolicyDocument, "The policy holds characters outside tab, newline and U+0020 to U+00FF.")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(policy.utf8)) as? [String: Any] else {
            throw KMSError(.malformedPolicyDocument, "The policy is not a JSON object.")
        }
        guard object["Statement"] != nil else {
            throw KMSError(.malformedPolicyDocument, "The policy has no Statement.")
        }
        return policy
    }

    static func policyName(_ name: String?) throws {
        guard let name else { return }
        guard name == "default" else { throw KMSError.notFound("The only key policy is named 'default'; '\(name)' does not exist.") }
    }
}
