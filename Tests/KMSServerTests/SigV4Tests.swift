import Foundation
import KMSCore
import KMSModel
@testable import KMSServer
import SoftHSMTestSupport
import Testing

@Suite("Signature Version 4")
struct SigV4Tests {
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let keyID = "P11KEXAMPLEKEY000001"
    static let signedAt = SigV4.parse(amzDate: "20261123T060000Z")!

    static func verifier(region: String = "local") throws -> SigV4Verifier {
        SigV4Verifier(region: region, keys: try AccessKeyStore([try AccessKey(id: keyID, name: "billing", secret: secret)]))
    }

    /// A request signed as an SDK signs it.
    static func signedRequest(body: String = #"{"KeyId":"alias/x"}"#, region: String = "local",
                              target: String = "TrentService.Encrypt", at date: Date = signedAt) -> SigV4.Request {
        var r = SigV4.Request(method: "POST", uri: "/", headers: [
            ("Host", "127.0.0.1:4599"), ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", target),
        ], body: Data(body.utf8))
        SigV4.sign(&r, accessKeyID: keyID, secret: secret, region: region, date: date)
        return r
    }

    static func refusal(_ r: SigV4.Request, now: Date = signedAt, sourceLocation: SourceLocation = #_sourceLocation) throws
        -> KMSError {
        switch try verifier().authenticate(r, now: now, remoteAddress: "127.0.0.1:1") {
        case .success(let p):
            Issue.record("accepted as \(p)", sourceLocation: sourceLocation)
            return KMSError(.kmsInternal, "accepted")
        case .failure(let refusal):
            return refusal.error
        }
    }

    /// AWS's documented example (IAM ListUsers, 2015-08-30): canonical
    /// request hash, and the signature for the example secret.
    @Test func awsDocumentedExample() {
        let request = SigV4.Request(method: "GET", uri: "/?Action=ListUsers&Version=2010-05-08", headers: [
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Host", "iam.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
        ], body: Data())
        let canonical = SigV4.canonicalRequest(request, signedHeaders: ["content-type", "host", "x-amz-date"],
                                               payloadHash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let toSign = SigV4.stringToSign(amzDate: "20150830T123600Z", scope: "20150830/us-east-1/iam/aws4_request",
                                        canonicalRequest: canonical)
        #expect(toSign.hasSuffix("\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"))
        let signature = SigV4.signature(root: .init(data: Array(("AWS4" + Self.secret).utf8)), date: "20150830",
                                        region: "us-east-1", service: "iam", stringToSign: toSign)
        #expect(SigV4.hex(signature) == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
    }

    @Test func canonicalFormsFollowAWSRules() {
        #expect(SigV4.canonicalQuery("b=2&a=z&a=y&c") == "a=y&a=z&b=2&c=")
        #expect(SigV4.canonicalQuery("k=a%20b+c&x=%7e") == "k=a%20b%20c&x=~")
        #expect(SigV4.canonicalURI("/a b/%41") == "/a%20b/%2541")   // encoded once more, as for every service but S3
        #expect(SigV4.canonicalURI("") == "/")
        #expect(SigV4.canonicalHeaderValue("  a   b\tc  ") == "a b c")
        #expect(SigV4.parse(amzDate: "20261123T060000Z") == Date(timeIntervalSince1970: 1_795_413_600))
        #expect(SigV4.parse(amzDate: "20261323T060000Z") == nil)
        #expect(SigV4.parse(amzDate: "2026-11-23T06:00:00Z") == nil)
        #expect(SigV4.format(Date(timeIntervalSince1970: 1_795_413_600.9)) == "20261123T060000Z")
    }

    @Test func aSignedRequestNamesItsAccessKey() throws {
        let result = try Self.verifier().authenticate(Self.signedRequest(), now: Self.signedAt.addingTimeInterval(60),
                                                      remoteAddress: "127.0.0.1:5555")
        let principal = try result.get()
        #expect(principal.accessKeyName == "billing" && principal.accessKeyID == Self.keyID)
        #expect(principal.remoteAddress == "127.0.0.1:5555" && principal.isAccessKeyCaller)
    }

    /// botocore's own signer, at a fixed time: what real SDKs send verifies.
    @Test func botocoreSignedRequestsVerify() async throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("aws-sdk/botocore_sign.py").path
        let body = #"{"KeyId":"alias/app","Plaintext":"aGVsbG8="}"#
        let signed = try await ChildProcess.run("/usr/bin/env", ["python3", script, Self.keyID, Self.secret, "local", "20261123T060000Z", body])
        try #require(signed.status == 0, "botocore_sign.py failed: \(signed.errors)")
        let data = signed.stdout
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let headers = try #require(json["headers"] as? [String: String])
        // The HTTP library adds Host when it sends; botocore signed the URL's host.
        var request = SigV4.Request(method: "POST", uri: "/", headers: headers.map { ($0.key, $0.value) } + [("Host", "127.0.0.1:4599")],
                                    body: Data((json["body"] as! String).utf8))
        #expect(try Self.verifier().authenticate(request, now: Self.signedAt, remoteAddress: nil).get().accessKeyName == "billing")
        #expect(try Self.refusal(request, now: Self.signedAt.addingTimeInterval(16 * 60)).message.contains("Signature expired"))
        request.body = Data(body.replacingOccurrences(of: "aGVsbG8=", with: "aGVsbG9=").utf8)
        #expect(try Self.refusal(request).name == .invalidSignature)
    }

    @Test func eachBrokenRequestIsRefusedWithAWSsName() throws {
        func with(_ r: SigV4.Request, _ change: (inout SigV4.Request) -> Void) -> SigV4.Request {
            var copy = r
            change(&copy)
            return copy
        }
        func setHeader(_ r: inout SigV4.Request, _ name: String, _ value: String?) {
            r.headers.removeAll { $0.name.lowercased() == name.lowercased() }
            if let value { r.headers.append((name, value)) }
        }
        let good = Self.signedRequest()
        let authorization = good.values("authorization")[0]

        #expect(try Self.refusal(with(good) { setHeader(&$0, "Authorization", nil) }).name == .missingAuthenticationToken)
        #expect(try Self.refusal(with(good) { setHeader(&$0, "Authorization", "AWS3 x") }).name == .incompleteSignature)
        #expect(try Self.refusal(with(good) { $0.headers.append(("Authorization", authorization)) }).name == .incompleteSignature)
        #expect(try Self.refusal(with(good) {
            setHeader(&$0, "Authorization", authorization.replacingOccurrences(of: "/local/kms/", with: "/local/"))
        }).name == .incompleteSignature)
        #expect(try Self.refusal(with(good) {
            setHeader(&$0, "Authorization", authorization.replacingOccurrences(of: Self.keyID, with: "P11KSOMEONEELSE00001"))
        }).name == .unrecognizedClient)
        #expect(try Self.refusal(with(good) { setHeader(&$0, "X-Amz-Security-Token", "token") }).name == .unrecognizedClient)
        #expect(try Self.refusal(with(good) { setHeader(&$0, "X-Amz-Date", nil) }).name == .incompleteSignature)
        #expect(try Self.refusal(with(good) { setHeader(&$0, "X-Amz-Date", "20261123T060001Z") }).name == .invalidSignature)
        #expect(try Self.refusal(with(good) { setHeader(&$0, "X-Amz-Target", "TrentService.Decrypt") }).name == .invalidSignature)
        #expect(try Self.refusal(with(good) { setHeader(&$0, "X-Amz-Custom", "unsigned") }).name == .incompleteSignature)
        #expect(try Self.refusal(with(good) { $0.body = Data(#"{"KeyId":"alias/y"}"#.utf8) }).name == .invalidSignature)
        #expect(try Self.refusal(with(good) { setHeader(&$0, "X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD") }).name
                == .incompleteSignature)   // present but unsigned
        #expect(try Self.refusal(with(good) {
            setHeader(&$0, "Authorization", authorization.replacingOccurrences(of: "Signature=", with: "Signature=0"))
        }).name == .incompleteSignature)

        // Signed for the wrong region or service, or long ago: the messages say what to fix.
        let otherRegion = try Self.refusal(Self.signedRequest(region: "us-east-1"))
        #expect(otherRegion.name == .invalidSignature && otherRegion.message.contains("'local'"))
        var otherService = SigV4.Request(method: "POST", uri: "/", headers: [("Host", "h"), ("X-Amz-Target", "TrentService.Encrypt")],
                                         body: Data())
        SigV4.sign(&otherService, accessKeyID: Self.keyID, secret: Self.secret, region: "local", service: "s3", date: Self.signedAt)
        #expect(try Self.refusal(otherService).name == .invalidSignature)
        let late = try Self.refusal(Self.signedRequest(), now: Self.signedAt.addingTimeInterval(15 * 60 + 1))
        #expect(late.name == .invalidSignature && late.message.contains("Signature expired"))
        #expect(try Self.refusal(Self.signedRequest(), now: Self.signedAt.addingTimeInterval(-(15 * 60 + 1))).name == .invalidSignature)
        // Within the window either way is accepted (clocks differ).
        #expect(throws: Never.self) {
            try Self.verifier().authenticate(Self.signedRequest(), now: Self.signedAt.addingTimeInterval(-14 * 60), remoteAddress: nil).get()
        }
    }

    @Test func signaturesMustCoverHostDateAndTarget() throws {
        for dropped in ["host", "x-amz-target"] {
            var r = SigV4.Request(method: "POST", uri: "/", headers: [("Host", "h"), ("X-Amz-Target", "TrentService.Encrypt")],
                                  body: Data())
            r.headers.removeAll { $0.name.lowercased() == dropped }
            SigV4.sign(&r, accessKeyID: Self.keyID, secret: Self.secret, region: "local", date: Self.signedAt)
            if dropped == "host" { r.headers.append(("Host", "h")) }   // sent, but not signed
            let error = try Self.refusal(r)
            #expect(error.name == .incompleteSignature, "\(dropped)")
        }
    }

    @Test func refusalsReportTheClaimedKeyForTheAuditLog() throws {
        var r = Self.signedRequest()
        r.body = Data("tampered".utf8)
        guard case .failure(let refusal) = try Self.verifier().authenticate(r, now: Self.signedAt, remoteAddress: nil) else {
            Issue.record("accepted")
            return
        }
        #expect(refusal.claimedAccessKey == Self.keyID)
    }
}

@Suite("Access keys and the TCP listener's configuration")
struct AccessKeyConfigurationTests {
    static func secretFile(_ text: String, mode: mode_t) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    @Test func secretFilesAreReadOnlyWhenPrivate() throws {
        let open = try Self.secretFile("abcdefghijklmnopqrstuvwxyz\n", mode: 0o644)
        let closed = try Self.secretFile("abcdefghijklmnopqrstuvwxyz\n", mode: 0o600)
        let short = try Self.secretFile("short", mode: 0o600)
        defer { for path in [open, closed, short] { try? FileManager.default.removeItem(atPath: path) } }
        #expect(throws: AccessKeyError.self) { try AccessKey.load(id: "P11KEXAMPLEKEY000001", name: "a", secretFile: open) }
        do { _ = try AccessKey.load(id: "P11KEXAMPLEKEY000001", name: "a", secretFile: open) } catch {
            #expect("\(error)".contains("chmod 600"))
        }
        let key = try AccessKey.load(id: "P11KEXAMPLEKEY000001", name: "a", secretFile: closed)
        // The trailing newline is not part of the secret.
        var r = SigV4.Request(method: "POST", uri: "/", headers: [("Host", "h"), ("X-Amz-Target", "TrentService.Encrypt")], body: Data())
        SigV4.sign(&r, accessKeyID: key.id, secret: "abcdefghijklmnopqrstuvwxyz", region: "r", date: Date())
        let verifier = SigV4Verifier(region: "r", keys: try AccessKeyStore([key]))
        #expect(throws: Never.self) { try verifier.authenticate(r, now: Date(), remoteAddress: nil).get() }
        #expect(throws: AccessKeyError.self) { try AccessKey.load(id: "P11KEXAMPLEKEY000001", name: "a", secretFile: short) }
        #expect(throws: AccessKeyError.self) { try AccessKey(id: "short", name: "a", secret: String(repeating: "s", count: 20)) }
        #expect(throws: AccessKeyError.self) { try AccessKey(id: "P11KEXAMPLEKEY000001", name: "a b", secret: String(repeating: "s", count: 20)) }
        let a = try AccessKey(id: "P11KEXAMPLEKEY000001", name: "a", secret: String(repeating: "s", count: 20))
        let b = try AccessKey(id: "P11KEXAMPLEKEY000002", name: "a", secret: String(repeating: "s", count: 20))
        #expect(throws: AccessKeyError.self) { try AccessKeyStore([a, b]) }
    }

    @Test func devCredentialsLookLikeAWSKeys() throws {
        let (id, secret) = AccessKey.generateDevCredentials()
        #expect(id.count == 20 && id.hasPrefix("P11K") && secret.count == 40)
        #expect(AccessKey.generateDevCredentials().secret != secret)
        _ = try AccessKey(id: id, name: "dev", secret: secret)
    }

    static let verifier = SigV4Verifier(region: "local", keys: try! AccessKeyStore([
        try! AccessKey(id: "P11KEXAMPLEKEY000001", name: "a", secret: String(repeating: "s", count: 20)),
    ]))

    @Test("loopback addresses need no TLS", arguments: ["127.0.0.1:4599", "127.1.2.3:1", "[::1]:4599", "127.0.0.1:0"])
    func loopback(listen: String) throws {
        let tcp = try TCPListenerConfiguration(listen: listen, tls: nil, verifier: Self.verifier)
        #expect(tcp.tls == nil)
    }

    @Test("other addresses are refused without TLS", arguments: ["0.0.0.0:4599", "10.0.0.1:4599", "[::]:4599", "[fe80::1]:1"])
    func nonLoopback(listen: String) throws {
        #expect(throws: TCPListenerConfiguration.Invalid.self) {
            try TCPListenerConfiguration(listen: listen, tls: nil, verifier: Self.verifier)
        }
        let tls = TCPListenerConfiguration.TLSFiles(certificateChain: "/c.pem", privateKey: "/k.pem")
        #expect(try TCPListenerConfiguration(listen: listen, tls: tls, verifier: Self.verifier).tls == tls)
    }

    @Test("listen is an IP address and a port", arguments: ["localhost:4599", "127.0.0.1", "127.0.0.1:70000", "::1:4599", "[::1]4599", ""])
    func malformed(listen: String) {
        #expect(throws: TCPListenerConfiguration.Invalid.self) {
            try TCPListenerConfiguration(listen: listen, tls: nil, verifier: Self.verifier)
        }
    }

    @Test func daemonConfigurationReadsTheListenerAndItsKeys() throws {
        let secret = try Self.secretFile("0123456789abcdef0123456789abcdef", mode: 0o600)
        defer { unlink(secret) }
        let base = """
            [hsm]
            token_label = "t"
            pin_file = "/p"
            [arn]
            region = "eu-west-9"
            [access]
            admins = ["uid:0", "access_key:ci-deployer"]

            """
        let config = try DaemonConfiguration.parse(base + """
            [tcp]
            listen = "127.0.0.1:4599"
            [access_keys.ci-deployer]
            access_key_id = "P11KEXAMPLEKEY000001"
            secret_file = "\(secret)"
            [access_keys.billing]
            access_key_id = "P11KEXAMPLEKEY000002"
            secret_file = "\(secret)"
            """)
        let tcp = try #require(config.server.tcp)
        #expect(tcp.host == "127.0.0.1" && tcp.port == 4599 && tcp.tls == nil)
        #expect(tcp.verifier.region == "eu-west-9" && tcp.verifier.keys.names == ["billing", "ci-deployer"])
        #expect(config.access.admins.accessKeys == ["ci-deployer"])
        #expect(config.server.maxConcurrentRequests == 8 + 512)

        func refused(_ text: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try DaemonConfiguration.parse(text)
                Issue.record("accepted", sourceLocation: sourceLocation)
            } catch {
                #expect("\(error)".contains(fragment), "\(error)", sourceLocation: sourceLocation)
            }
        }
        let key = "[access_keys.ci-deployer]\naccess_key_id = \"P11KEXAMPLEKEY000001\"\nsecret_file = \"\(secret)\"\n"
        refused(base + key, "no [tcp] listener")
        refused(base + "[tcp]\nlisten = \"127.0.0.1:1\"\n", "needs at least one access key")
        refused(base + "[tcp]\nlisten = \"127.0.0.1:1\"\n" + key.replacingOccurrences(of: "[access_keys.ci-deployer]", with: "[access_keys.billing]"),
                "no [access_keys.ci-deployer]")
        refused(base + "[tcp]\nlisten = \"0.0.0.0:1\"\n" + key, "needs TLS")
        refused(base + "[tcp]\nlisten = \"127.0.0.1:1\"\ntls_certificate = \"/c\"\n" + key, "both tcp.tls_certificate")
        refused(base + "[tcp]\n" + key, "[tcp] needs listen")
        refused(base + "[tcp]\nlisten = \"127.0.0.1:1\"\n" + key + "secret = \"inline\"\n", "unknown key access_keys.ci-deployer.secret")
        refused(base + "[tcp]\nlisten = \"127.0.0.1:1\"\n" + key.replacingOccurrences(of: secret, with: "/nonexistent"), "cannot open")
        refused(base + "[server]\nmax_queued_requests = -1\n", "must not be negative")
    }
}

@Suite("Access-key principals")
struct AccessKeyPrincipalTests {
    let app = Principal.accessKey(name: "billing", id: "P11KEXAMPLEKEY000001", remoteAddress: nil)
    let root = Principal(uid: 0, gid: 0, userName: "root", groupNames: ["root"])

    func policy(_ principal: String) throws -> KeyPolicy {
        try KeyPolicy.parse(#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":\#(principal),"Action":"kms:*"}]}"#)
    }

    @Test func keyPoliciesMatchAccessKeysOnlyByTheirAWSName() throws {
        let encrypt = { (p: Principal) in AuthorizationRequest(action: "kms:Encrypt", principal: p) }
        #expect(try policy(#"{"AWS":["billing"]}"#).evaluate(encrypt(app)).isAllowed)
        #expect(try !policy(#"{"AWS":["billing"]}"#).evaluate(encrypt(root)).isAllowed)
        #expect(try !policy(#"{"AWS":["other"]}"#).evaluate(encrypt(app)).isAllowed)
        #expect(try policy(#"{"AWS":"*"}"#).evaluate(encrypt(app)).isAllowed)
        #expect(try !policy(#"{"AWS":"*"}"#).evaluate(encrypt(root)).isAllowed)
        #expect(try policy(#""*""#).evaluate(encrypt(app)).isAllowed)
        // The invalid uid an access-key caller carries matches no Unix principal.
        #expect(try !policy(#"{"Unix":{"Uid":[4294967295]}}"#).evaluate(encrypt(app)).isAllowed)
        #expect(try !policy(#"{"Unix":{"Gid":[4294967295]}}"#).evaluate(encrypt(app)).isAllowed)
    }

    @Test func configuredSetsNameAccessKeys() throws {
        let set = try PrincipalSet(parsing: ["uid:4294967295", "access_key:billing"])
        #expect(set.contains(app))
        #expect(!set.contains(root))
        #expect(!(try PrincipalSet(parsing: ["uid:4294967295", "gid:4294967295"])).contains(app))
        #expect(try PrincipalSet(parsing: ["*"]).contains(app))
        #expect(throws: KMSError.self) { try PrincipalSet(parsing: ["access_key:"]) }
    }
}
