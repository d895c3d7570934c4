import SwiftASN1

/// Public keys leave the token as DER SubjectPublicKeyInfo (RFC 5280), the
/// form AWS KMS's GetPublicKey returns and OpenSSL and swift-crypto read.
extension Session {
    public func subjectPublicKeyInfo(of publicKey: ObjectHandle) throws -> [UInt8] {
        let keyType = KeyType(rawValue: try ulongAttribute(.keyType, of: publicKey))
        switch keyType {
        case .rsa:
            let a = try attributes([.modulus, .publicExponent], of: publicKey)
            return try SubjectPublicKeyInfo.rsa(modulus: a[0].value, publicExponent: a[1].value)
        case .ec:
            let a = try attributes([.ecParams, .ecPoint], of: publicKey)
            guard let curve = NamedCurve(ecParameters: a[0].value) else {
                throw PKCS11UsageError("EC public key on a curve this service does not know")
            }
            let point = try SubjectPublicKeyInfo.unwrapECPoint(a[1].value, expectedLength: 1 + 2 * curve.coordinateByteCount)
            return try SubjectPublicKeyInfo.ec(curve: curve, point: point)
        case .ecEdwards:
            let a = try attributes([.ecParams, .ecPoint], of: publicKey)
            let point = try SubjectPublicKeyInfo.unwrapECPoint(a[1].value, expectedLength: Ed25519Curve.publicKeyLength)
            return try SubjectPublicKeyInfo.ed25519(point)
        default:
            throw PKCS11UsageError("cannot export a public key of type \(keyType.name)")
        }
    }
}

public enum SubjectPublicKeyInfo {
    static let rsaEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 1]
    static let ecPublicKey: ASN1ObjectIdentifier = [1, 2, 840, 10045, 2, 1]

    public static func rsa(modulus: [UInt8], publicExponent: [UInt8]) throws -> [UInt8] {
        var inner = DER.Serializer()
        try inner.appendConstructedNode(identifier: .sequence) { c in
            try c.serialize(modulus.drop(while: { $0 == 0 }))
            try c.serialize(publicExponent.drop(while: { $0 == 0 }))
        }
        return try spki(algorithm: rsaEncryption, parameters: { try $0.serialize(ASN1Null()) }, key: inner.serializedBytes)
    }

    public static func ec(curve: NamedCurve, point: [UInt8]) throws -> [UInt8] {
        try spki(algorithm: ecPublicKey, parameters: { try $0.serialize(curve.oid) }, key: point)
    }

    public static func ed25519(_ raw: [UInt8]) throws -> [UInt8] {
        try spki(algorithm: Ed25519Curve.oid, parameters: nil, key: raw)
    }

    private static func spki(algorithm: ASN1ObjectIdentifier, parameters: ((inout DER.Serializer) throws -> Void)?,
                             key: [UInt8]) throws -> [UInt8] {
        var s = DER.Serializer()
        try s.appendConstructedNode(identifier: .sequence) { c in
            try c.appendConstructedNode(identifier: .sequence) { alg in
                try alg.serialize(algorithm)
                try parameters?(&alg)
            }
            try c.serialize(ASN1BitString(bytes: key[...]))
        }
        return s.serializedBytes
    }

    /// `CKA_EC_POINT` is a DER OCTET STRING around the point in v2.40; some
    /// tokens return the bare point. Accept exactly these two forms.
    static func unwrapECPoint(_ value: [UInt8], expectedLength: Int) throws -> [UInt8] {
        if value.count == expectedLength, (expectedLength == Ed25519Curve.publicKeyLength || value.first == 0x04) {
            // A bare point; the DER form of a point this long is always longer.
            return value
        }
        do {
            let octets = try ASN1OctetString(derEncoded: value[...])
            guard octets.bytes.count == expectedLength else { throw PKCS11UsageError("wrong length") }
            return Array(octets.bytes)
        } catch {
            throw PKCS11UsageError("token returned a malformed CKA_EC_POINT")
        }
    }
}
