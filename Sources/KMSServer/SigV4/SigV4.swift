import Crypto
import Foundation
import KMSAuditFormat
import KMSCore

/// AWS Signature Version 4, as AWS SDKs sign requests (header signing,
/// `AWS4-HMAC-SHA256`), and its verification for the TCP listener.
///
/// The rules followed are AWS's "Create a signed AWS API request":
/// canonical request = method, URI-encoded path, sorted canonical query,
/// sorted lower-case headers with trimmed values, the signed header list and
/// the hex SHA-256 of the body; string to sign = algorithm, `x-amz-date`,
/// credential scope and the canonical request's hash; the signing key is the
/// HMAC chain over date, region, service and `aws4_request`.
public enum SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"
    public static let service = "kms"
    /// How far `x-amz-date` may be from the daemon's clock, either way.
    public static let maxClockSkew: TimeInterval = 15 * 60

    /// A request as it arrived: header names in any case, the path and query as sent.
    public struct Request {
        public var method: String
        public var uri: String
        public var headers: [(name: String, value: String)]
        public var body: Data

        public init(method: String, uri: String, headers: [(name: String, value: String)], body: Data) {
            self.method = method
            self.uri = uri
            self.headers = headers
            self.body = body
        }

        /// All values of a header, in order (names compare case-insensitively).
        func values(_ name: String) -> [String] {
            headers.filter { $0.name.lowercased() == name }.map(\.value)
        }
    }

    // MARK: The canonical forms

    public static func canonicalRequest(_ r: Request, signedHeaders: [String], payloadHash: String) -> String {
        let (path, query) = split(r.uri)
        var lines = [r.method.uppercased(), canonicalURI(path), canonicalQuery(query)]
        for name in signedHeaders {
            lines.append(name + ":" + r.values(name).map(canonicalHeaderValue).joined(separator: ","))
        }
        lines.append("")
        lines.append(signedHeaders.joined(separator: ";"))
        lines.append(payloadHash)
        return lines.joined(separator: "\n")
    }

    public static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        [algorithm, amzDate, scope, hex(SHA256.hash(data: Array(canonicalRequest.utf8)))].joined(separator: "\n")
    }

    /// The hex signature of `stringToSign` under the key derived for `scope`'s date, region and service.
    static func signature(root: SymmetricKey, date: String, region: String, service: String, stringToSign: String) -> [UInt8] {
        var key = root
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return Array(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
    }

    /// Signs as an SDK would (for tests and tools): adds `x-amz-date`, `host`
    /// if missing, and `Authorization` over every header present.
    public static func sign(_ r: inout Request, accessKeyID: String, secret: String, region: String,
                            service: String = SigV4.service, date: Date) {
        let amzDate = format(date)
        r.headers.removeAll { $0.name.lowercased() == "x-amz-date" || $0.name.lowercased() == "authorization" }
        r.headers.append(("X-Amz-Date", amzDate))
        let signed = Array(Set(r.headers.map { $0.name.lowercased() })).sorted()
        let scope = "\(amzDate.prefix(8))/\(region)/\(service)/aws4_request"
        let canonical = canonicalRequest(r, signedHeaders: signed, payloadHash: hex(SHA256.hash(data: r.body)))
        let toSign = stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonical)
        let sig = signature(root: SymmetricKey(data: Array(("AWS4" + secret).utf8)), date: String(amzDate.prefix(8)),
                            region: region, service: service, stringToSign: toSign)
        r.headers.append(("Authorization", "\(algorithm) Credential=\(accessKeyID)/\(scope), "
                          + "SignedHeaders=\(signed.joined(separator: ";")), Signature=\(hex(sig))"))
    }

    static func split(_ uri: String) -> (path: Substring, query: Substring) {
        guard let q = uri.firstIndex(of: "?") else { return (uri[...], "") }
        return (uri[..<q], uri[uri.index(after: q)...])
    }

    /// The path URI-encoded once more, as AWS does for every service but S3.
    static func canonicalURI(_ path: Substring) -> String {
        path.isEmpty ? "/" : uriEncode(path, keepSlash: true)
    }

    /// Parameters decoded, encoded again strictly, sorted by name then value.
    static func canonicalQuery(_ query: Substring) -> String {
        guard !query.isEmpty else { return "" }
        let pairs = query.split(separator: "&").map { item -> (String, String) in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = uriEncode(percentDecode(parts[0])[...], keepSlash: false)
            let value = parts.count > 1 ? uriEncode(percentDecode(parts[1])[...], keepSlash: false) : ""
            return (name, value)
        }
        return pairs.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Trimmed, with each run of whitespace made one space.
    static func canonicalHeaderValue(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    static func uriEncode(_ s: Substring, keepSlash: Bool) -> String {
        var out = ""
        for byte in s.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if (byte < 0x80 && (c.isLetter || c.isNumber)) || "-_.~".contains(c) || (keepSlash && byte == UInt8(ascii: "/")) {
                out.append(c)
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }

    static func percentDecode(_ s: Substring) -> String {
        s.replacingOccurrences(of: "+", with: "%20").removingPercentEncoding ?? String(s)
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    public static func format(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var t = tm()
        gmtime_r(&seconds, &t)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", Int(t.tm_year) + 1900, Int(t.tm_mon) + 1, Int(t.tm_mday),
                      Int(t.tm_hour), Int(t.tm_min), Int(t.tm_sec))
    }

    static func parse(amzDate s: String) -> Date? {
        let u = Array(s.utf8)
        guard u.count == 16, u[8] == UInt8(ascii: "T"), u[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            guard u[range].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return Int32(String(decoding: u[range], as: UTF8.self))
        }
        guard let y = number(0..<4), let mo = number(4..<6), let d = number(6..<8),
              let h = number(9..<11), let mi = number(11..<13), let se = number(13..<15),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 61 else { return nil }
        var t = tm()
        t.tm_year = y - 1900; t.tm_mon = mo - 1; t.tm_mday = d
        t.tm_hour = h; t.tm_min = mi; t.tm_sec = se
        return Date(timeIntervalSince1970: TimeInterval(timegm(&t)))
    }

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        AuditLine.hex(Array(bytes))
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
