import SwiftASN1

/// Elliptic curves for ECDSA keys, identified on the token by the DER OID in
/// `CKA_EC_PARAMS`.
public struct NamedCurve: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let oid: ASN1ObjectIdentifier
    /// Bytes in one coordinate, and so in each of r and s of a raw signature.
    public let coordinateByteCount: Int

    public static let p256 = NamedCurve(name: "P-256", oid: [1, 2, 840, 10045, 3, 1, 7], coordinateByteCount: 32)
    public static let p384 = NamedCurve(name: "P-384", oid: [1, 3, 132, 0, 34], coordinateByteCount: 48)
    public static let p521 = NamedCurve(name: "P-521", oid: [1, 3, 132, 0, 35], coordinateByteCount: 66)
    public static let secp256k1 = NamedCurve(name: "secp256k1", oid: [1, 3, 132, 0, 10], coordinateByteCount: 32)

    public static let all: [NamedCurve] = [.p256, .p384, .p521, .secp256k1]

    public var description: String { name }

    /// `CKA_EC_PARAMS`: the curve OID, DER-encoded.
    public var ecParameters: [UInt8] { derEncoded(oid) }

    public init(name: String, oid: ASN1ObjectIdentifier, coordinateByteCount: Int) {
        self.name = name
        self.oid = oid
        self.coordinateByteCount = coordinateByteCount
    }

    /// The curve whose `CKA_EC_PARAMS` these are, if it is one we know.
    public init?(ecParameters: [UInt8]) {
        guard let match = Self.all.first(where: { $0.ecParameters == ecParameters }) else { return nil }
        self = match
    }
}

/// Ed25519, the one Edwards curve used here (RFC 8410 OID 1.3.101.112).
public enum Ed25519Curve {
    public static let oid: ASN1ObjectIdentifier = [1, 3, 101, 112]
    public static var ecParameters: [UInt8] { derEncoded(oid) }
    public static let publicKeyLength = 32
    public static let signatureLength = 64
}

func derEncoded(_ node: some DERSerializable) -> [UInt8] {
    var serializer = DER.Serializer()
    // Serialising an OID or a well-formed value of ours cannot fail.
    try! serializer.serialize(node)
    return serializer.serializedBytes
}
