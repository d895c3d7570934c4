import Foundation
import NIOCore
import NIOSSL
#if canImport(Glibc)
import Glibc
#endif

/// The optional second listener for existing AWS SDK code: the same
/// operations over TCP, each request authenticated by its Signature Version 4
/// signature instead of by the kernel. Loopback addresses only, unless TLS
/// is configured: a signature proves who signed, but without TLS anyone on
/// the path would read plaintexts and data keys in the responses.
public struct TCPListenerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var tls: TLSFiles?
    public var verifier: SigV4Verifier

    public struct TLSFiles: Sendable, Equatable {
        public var certificateChain: String
        public var privateKey: String
        public init(certificateChain: String, privateKey: String) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
        }
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// `listen` is `127.0.0.1:4599` or `[::1]:4599` (port 0: any free port):
    /// an IP address, not a name, so what is bound is what the operator read.
    public init(listen: String, tls: TLSFiles?, verifier: SigV4Verifier) throws {
        let (host, port) = try Self.parse(listen)
        guard tls != nil || Self.isLoopback(host) else {
            throw Invalid("tcp.listen \(listen) is not a loopback address; a TCP listener beyond this host needs TLS "
                          + "(tcp.tls_certificate and tcp.tls_private_key)")
        }
        guard !verifier.keys.isEmpty else {
            throw Invalid("the TCP listener needs at least one access key ([access_keys.NAME] with access_key_id and secret_file)")
        }
        self.host = host
        self.port = port
        self.tls = tls
        self.verifier = verifier
    }

    static func parse(_ listen: String) throws -> (String, Int) {
        let usage = "tcp.listen must be IPV4:PORT or [IPV6]:PORT, e.g. \"127.0.0.1:4599\", not \"\(listen.prefix(64))\""
        let host: Substring, portText: Substring
        if listen.hasPrefix("[") {
            guard let close = listen.firstIndex(of: "]"), listen[listen.index(after: close)...].hasPrefix(":") else {
                throw Invalid(usage)
            }
            host = listen[listen.index(after: listen.startIndex)..<close]
            portText = listen[listen.index(close, offsetBy: 2)...]
        } else {
            // An IPv6 address goes in brackets, or its last group would read as the port.
            guard let colon = listen.firstIndex(of: ":"), colon == listen.lastIndex(of: ":") else { throw Invalid(usage) }
            host = listen[..<colon]
            portText = listen[listen.index(after: colon)...]
        }
        guard let port = Int(portText), (0...65535).contains(port), isIPAddress(String(host)) else { throw Invalid(usage) }
        return (String(host), port)
    }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// 127.0.0.0/8 and ::1.
    static func isLoopback(_ host: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        return withUnsafeBytes(of: &v6) { bytes in bytes.dropLast().allSatisfy { $0 == 0 } && bytes.last == 1 }
    }

    /// The TLS context: certificate chain and key from PEM files, the key
    /// readable by its owner only. TLS 1.2 or newer (NIOSSL's default).
    func makeTLSContext() throws -> NIOSSLContext? {
        guard let tls else { return nil }
        var st = stat()
        guard stat(tls.privateKey, &st) == 0 else {
            throw Invalid("cannot read the TLS private key \(tls.privateKey): \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & (S_IRWXG | S_IRWXO) == 0 else {
            throw Invalid("the TLS private key \(tls.privateKey) has mode \(String(st.st_mode & 0o777, radix: 8)): group or "
                          + "others can access it; run chmod 600 \(tls.privateKey)")
        }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateChain)
            guard !chain.isEmpty else { throw Invalid("\(tls.certificateChain) holds no PEM certificate") }
            let key = try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)
            let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                        privateKey: .privateKey(key))
            return try NIOSSLContext(configuration: configuration)
        } catch let e as Invalid {
            throw e
        } catch {
            throw Invalid("cannot load the TLS certificate \(tls.certificateChain) and key \(tls.privateKey): \(error)")
        }
    }
}
