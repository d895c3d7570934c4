import Crypto
import Foundation
import KMSCore
import KMSModel

/// Checks the Signature Version 4 signature of each request on the TCP
/// listener and names its caller. Every refusal carries the exception name
/// AWS uses for it, so SDKs raise what their users already handle.
public struct SigV4Verifier: Sendable {
    public let region: String
    public let keys: AccessKeyStore

    public init(region: String, keys: AccessKeyStore) {
        self.region = region
        self.keys = keys
    }

    /// A refused request: the error for the wire and the access key id it
    /// claimed, if any (for the audit log; it is not authenticated).
    public struct Refusal: Error {
        public let error: KMSError
        public let claimedAccessKey: String?
    }

    /// Headers every signature must cover: without `host` a request could be
    /// replayed to another service, without `x-amz-target` a signed body
    /// could be replayed as another operation.
    static let requiredSignedHeaders = ["host", "x-amz-date", "x-amz-target"]

    public func authenticate(_ request: SigV4.Request, now: Date, remoteAddress: String?) -> Result<Principal, Refusal> {
        var claimed: String?
        func refuse(_ name: KMSError.Name, _ message: String) -> Result<Principal, Refusal> {
            .failure(Refusal(error: KMSError(name, message), claimedAccessKey: claimed))
        }
        let authorizations = request.values("authorization")
        guard let authorization = authorizations.first else {
            if request.uri.contains("X-Amz-Signature=") {
                return refuse(.missingAuthenticationToken,
                              "Presigned (query string) requests are not accepted; sign with the Authorization header.")
            }
            return refuse(.missingAuthenticationToken,
                          "Missing Authentication Token: sign the request with Signature Version 4 using a configured access key.")
        }
        guard authorizations.count == 1 else {
            return refuse(.incompleteSignature, "The request has more than one Authorization header.")
        }
        let parsed: Authorization
        switch Authorization.parse(authorization) {
        case .success(let a): parsed = a
        case .failure(let message): return refuse(.incompleteSignature, message)
        }
        claimed = String(parsed.accessKeyID.prefix(128))

        guard let key = keys.key(id: parsed.accessKeyID) else {
            return refuse(.unrecognizedClient, "The security token included in the request is invalid: access key "
                          + "\(claimed!) is not configured in this p11kmsd.")
        }
        if !request.values("x-amz-security-token").isEmpty {
            return refuse(.unrecognizedClient, "Session tokens are not supported; sign with a configured access key and no token.")
        }
        let dates = request.values("x-amz-date")
        guard dates.count == 1, let amzDate = dates.first, let signedAt = SigV4.parse(amzDate: amzDate) else {
            return refuse(.incompleteSignature, "The request must carry one X-Amz-Date header in the form 20060102T150405Z.")
        }
        for name in Self.requiredSignedHeaders where !parsed.signedHeaders.contains(name) {
            return refuse(.incompleteSignature, "SignedHeaders must include \(name).")
        }
        for header in request.headers {
            let name = header.name.lowercased()
            if (name.hasPrefix("x-amz-") || name == "content-type"), !parsed.signedHeaders.contains(name) {
                return refuse(.incompleteSignature, "The header \(name) is present but not signed; sign every x-amz-* header and content-type.")
            }
        }
        if let missing = parsed.signedHeaders.first(where: { request.values($0).isEmpty }) {
            return refuse(.incompleteSignature, "SignedHeaders names \(missing), which the request does not carry.")
        }
        guard parsed.date == String(amzDate.prefix(8)) else {
            return refuse(.invalidSignature, "The credential scope date \(parsed.date) is not the date of X-Amz-Date \(amzDate).")
        }
        guard parsed.region == region else {
            return refuse(.invalidSignature, "Credential should be scoped to a valid region: this p11kmsd's region is "
                          + "'\(region)', not '\(parsed.region.prefix(64))'. Set the SDK's region to \(region).")
        }
        guard parsed.service == SigV4.service else {
            return refuse(.invalidSignature, "Credential should be scoped to the service 'kms', not '\(parsed.service.prefix(64))'.")
        }
        let skew = signedAt.timeIntervalSince(now)
        guard abs(skew) <= SigV4.maxClockSkew else {
            let bound = SigV4.format(now.addingTimeInterval(skew < 0 ? -SigV4.maxClockSkew : SigV4.maxClockSkew))
            return refuse(.invalidSignature, "Signature expired: \(amzDate) is now \(skew < 0 ? "earlier" : "later") than "
                          + "\(bound) (\(SigV4.format(now)) \(skew < 0 ? "-" : "+") 15 min.). Check the client's clock.")
        }
        let payloadHash = SigV4.hex(SHA256.hash(data: request.body))
        if let declared = request.values("x-amz-content-sha256").first, declared.lowercased() != payloadHash {
            return refuse(.invalidSignature, "The body does not match its X-Amz-Content-SHA256 (an unsigned payload is not accepted).")
        }
        let canonical = SigV4.canonicalRequest(request, signedHeaders: parsed.signedHeaders, payloadHash: payloadHash)
        let toSign = SigV4.stringToSign(amzDate: amzDate, scope: parsed.scope, canonicalRequest: canonical)
        let expected = SigV4.signature(root: key.signingRoot, date: parsed.date, region: parsed.region,
                                       service: parsed.service, stringToSign: toSign)
        guard constantTimeEqual(expected, parsed.signature) else {
            return refuse(.invalidSignature, "The request signature we calculated does not match the signature you provided. "
                          + "Check your AWS Secret Access Key and signing method.")
        }
        return .success(.accessKey(name: key.name, id: key.id, remoteAddress: remoteAddress))
    }

    /// `AWS4-HMAC-SHA256 Credential=ID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex`.
    struct Authorization {
        var accessKeyID: String
        var date: String
        var region: String
        var service: String
        var signedHeaders: [String]
        var signature: [UInt8]
        var scope: String { "\(date)/\(region)/\(service)/aws4_request" }

        enum Parsed { case success(Authorization), failure(String) }

        static func parse(_ header: String) -> Parsed {
            let usage = "Authorization must be 'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...'."
            guard header.hasPrefix(SigV4.algorithm + " ") else {
                return .failure("Only \(SigV4.algorithm) (Signature Version 4) is accepted. " + usage)
            }
            var fields: [String: String] = [:]
            for part in header.dropFirst(SigV4.algorithm.count + 1).split(separator: ",") {
                let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                guard pair.count == 2, fields[String(pair[0])] == nil else { return .failure(usage) }
                fields[String(pair[0])] = String(pair[1])
            }
            guard fields.count == 3, let credential = fields["Credential"], let signed = fields["SignedHeaders"],
                  let signatureHex = fields["Signature"] else {
                return .failure(usage)
            }
            let scope = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard scope.count == 5, scope[4] == "aws4_request", !scope[0].isEmpty,
                  scope[1].count == 8, scope[1].allSatisfy(\.isNumber) else {
                return .failure("Credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/kms/aws4_request.")
            }
            let headers = signed.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
            guard !headers.contains(where: \.isEmpty), headers == headers.map({ $0.lowercased() }),
                  headers == headers.sorted(), Set(headers).count == headers.count else {
                return .failure("SignedHeaders must be lower-case header names, sorted, separated by ';'.")
            }
            guard signatureHex.utf8.count == 64, let signature = bytes(hex: signatureHex) else {
                return .failure("Signature must be 64 hexadecimal digits.")
            }
            return .success(Authorization(accessKeyID: scope[0], date: scope[1], region: scope[2], service: scope[3],
                                          signedHeaders: headers, signature: signature))
        }

        private static func bytes(hex: String) -> [UInt8]? {
            let digits = Array(hex.utf8)
            var out: [UInt8] = []
            out.reserveCapacity(digits.count / 2)
            for i in stride(from: 0, to: digits.count, by: 2) {
                guard let byte = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
                out.append(byte)
            }
            return out
        }
    }
}
