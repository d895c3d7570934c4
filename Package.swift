// swift-tools-version: 6.0
import PackageDescription

// One settings array for every target: Swift 6 language mode (complete
// concurrency checking) everywhere, so no target quietly opts out.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "p11kms",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "PKCS11", targets: ["PKCS11"]),
        .library(name: "SoftHSMTestSupport", targets: ["SoftHSMTestSupport"]),
        .library(name: "KMSModel", targets: ["KMSModel"]),
        .library(name: "KMSCore", targets: ["KMSCore"]),
        .library(name: "KMSServer", targets: ["KMSServer"]),
        .library(name: "KMSClient", targets: ["KMSClient"]),
        .executable(name: "p11kms", targets: ["p11kms"]),
        .executable(name: "p11kmsd", targets: ["p11kmsd"]),
        .executable(name: "p11kms-hsmbench", targets: ["p11kms-hsmbench"]),
        .executable(name: "p11kms-loadgen", targets: ["p11kms-loadgen"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // The config file's parser (toml++ underneath). Its test-only
        // dependency, swift-checkit, is not fetched for a dependency.
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        // The Kubernetes KMS v2 plugin (KMSKubernetes): gRPC over HTTP/2 on a
        // Unix socket. Linked into p11kmsd and its tests only.
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CPKCS11",
            pkgConfig: "p11-kit-1",
            providers: [.apt(["libp11-kit-dev"])]
        ),
        // The one async wait primitive (deadline, cancellation) every layer queues with.
        .target(
            name: "KMSConcurrency",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PKCS11",
            dependencies: [
                "CPKCS11",
                "KMSConcurrency",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // The wire model: requests, responses, enums, KMSError, KMSOperation
        // and the AWS JSON 1.1 codec. Foundation only, so clients and the CLI
        // use it without linking the HSM, the database or OpenSSL.
        .target(
            name: "KMSModel",
            swiftSettings: swiftSettings
        ),
        // The audit log's line format, hash chain, files and offline
        // verifier: what `p11kms audit verify` needs, without the engine.
        .target(
            name: "KMSAuditFormat",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // The daemon's own token objects (domain, audit and seal keys), over
        // PKCS11 alone, for `p11kms token setup`, dev mode and tests.
        .target(
            name: "KMSTokenSetup",
            dependencies: ["PKCS11", "KMSAuditFormat"],
            swiftSettings: swiftSettings
        ),
        // The engine: keys, versions, policies, audit log writer, metadata store.
        .target(
            name: "KMSCore",
            dependencies: [
                "KMSModel",
                "KMSAuditFormat",
                "KMSTokenSetup",
                "PKCS11",
                "KMSConcurrency",
                .product(name: "Logging", package: "swift-log"),
                "COpenSSL",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KMSServer",
            dependencies: [
                "KMSCore",
                "KMSModel",
                "KMSAuditFormat",
                "PKCS11",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                // ChildProcess, for [[notify]] commands (posix_spawn; the
                // module is named for its first users, the tests).
                "SoftHSMTestSupport",
            ],
            swiftSettings: swiftSettings
        ),
        // The Kubernetes KMS v2 gRPC front end of KMSService (issue 15). The
        // generated protobuf and gRPC code is committed in Generated/ (see
        // the README there), so no build runs protoc.
        .target(
            name: "KMSKubernetes",
            dependencies: [
                "KMSCore",
                "KMSServer",
                "KMSModel",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Generated/api.proto", "Generated/README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KMSClient",
            dependencies: [
                "KMSModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "p11kmsd",
            dependencies: [
                "KMSServer",
                "KMSKubernetes",
                "KMSCore",
                "KMSModel",
                "KMSAuditFormat",
                "KMSTokenSetup",
                "PKCS11",
                "SoftHSMTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SoftHSMTestSupport",
            dependencies: ["PKCS11"],
            swiftSettings: swiftSettings
        ),
        // The CLI: KMS commands through KMSClient, token administration and
        // audit verification directly; it does not link the engine (KMSCore).
        .executableTarget(
            name: "p11kms",
            dependencies: [
                "PKCS11",
                "KMSModel",
                "KMSClient",
                "JMESPath",
                "KMSAuditFormat",
                "KMSTokenSetup",
                "SoftHSMTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // scripts/bench: the raw PKCS#11 baseline, in process (no daemon).
        .executableTarget(
            name: "p11kms-hsmbench",
            dependencies: ["PKCS11", "SoftHSMTestSupport", "BenchStatistics"],
            swiftSettings: swiftSettings
        ),
        // scripts/bench: load through the daemon's socket, and the report.
        // Foundation only (and the shared percentile), so it measures the
        // daemon and nothing of ours.
        .executableTarget(
            name: "p11kms-loadgen",
            dependencies: ["BenchStatistics"],
            swiftSettings: swiftSettings
        ),
        // JMESPath for the CLI's --query: Foundation only, its own tests.
        .target(
            name: "JMESPath",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "JMESPathTests",
            dependencies: ["JMESPath"],
            // Expected answers generated with jmespath.py 1.1.0 (the reference
            // implementation), and the specification's compliance suite; see
            // the README beside them.
            exclude: ["Resources/README.md"],
            resources: [.copy("Resources/reference-cases.json"), .copy("Resources/compliance")],
            swiftSettings: swiftSettings
        ),
        // The percentile both benchmark tools use, so raw and daemon agree.
        .target(
            name: "BenchStatistics",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PKCS11Tests",
            dependencies: [
                "PKCS11",
                "SoftHSMTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            // Project Wycheproof vectors (Apache-2.0, LICENSE beside them).
            resources: [.copy("Resources/wycheproof")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KMSModelTests",
            dependencies: ["KMSModel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KMSServerTests",
            dependencies: [
                "KMSServer",
                "KMSCore",
                "KMSModel",
                "KMSTokenSetup",
                "PKCS11",
                "SoftHSMTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // A real p11kmsd process and a raw HTTP client for it, shared by the
        // test targets that drive the daemon; linked into no product.
        .target(
            name: "DaemonTestSupport",
            dependencies: ["SoftHSMTestSupport"],
            path: "Tests/DaemonTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "DaemonTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Kubernetes plugin through a real dev daemon: a Swift gRPC
        // client (the generated stubs in KMSKubernetes) and a Python one
        // (grpcio, stubs generated from the proto at test time).
        .testTarget(
            name: "KubernetesPluginTests",
            dependencies: [
                "DaemonTestSupport",
                "KMSKubernetes",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CLITests",
            dependencies: [
                "DaemonTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KMSClientTests",
            dependencies: [
                "DaemonTestSupport",
                "KMSClient",
                "KMSModel",
                "KMSCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // scripts/package's .deb, built from the debug binaries and unpacked
        // into a throwaway root.
        .testTarget(
            name: "PackageTests",
            dependencies: ["DaemonTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KMSConcurrencyTests",
            dependencies: ["KMSConcurrency"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KMSCoreTests",
            dependencies: [
                "KMSCore",
                "KMSModel",
                "KMSAuditFormat",
                "KMSTokenSetup",
                "PKCS11",
                "COpenSSL",
                "SoftHSMTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
