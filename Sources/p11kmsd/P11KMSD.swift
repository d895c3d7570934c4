import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import KMSModel
import KMSServer
import Logging
import SoftHSMTestSupport

@main
struct P11KMSD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "p11kmsd",
        abstract: "The p11kms daemon: an AWS-KMS-compatible key service on a PKCS#11 HSM, over a Unix socket.",
        // One line per paragraph (the trailing backslashes): ArgumentParser and
        // the man page wrap paragraphs to the terminal, but keep every newline.
        discussion: """
            Production: p11kmsd --config /etc/p11kms/p11kmsd.toml (see contrib/p11kmsd.toml and the \
            README; the Debian package runs it as the p11kmsd systemd service).

            Development: p11kmsd --dev [--state-dir DIR] makes (or reuses) a SoftHSM2 token, PINs, the \
            domain key and the metadata store in DIR (default ./.p11kms-dev) and listens on \
            DIR/p11kms.sock; with --tcp 127.0.0.1:PORT also on TCP for AWS SDKs (see DIR/aws-config).

            When ready it prints 'p11kmsd: listening on <socket>'. SIGTERM or SIGINT drain requests in \
            flight and exit 0.
            """,
        version: P11KMSRelease.version)

    @Option(help: ArgumentHelp("Configuration file (TOML).", valueName: "file")) var config: String?
    @Flag(help: "Run on a SoftHSM2 dev token in --state-dir.") var dev = false
    @Option(help: ArgumentHelp("Dev state directory.", valueName: "dir")) var stateDir = "./.p11kms-dev"
    @Option(help: ArgumentHelp("Dev mode key storage: wrapped or token.", valueName: "mode")) var keyStorage: String?
    @Option(help: ArgumentHelp("Dev mode: unwrapped keys kept in the HSM (wrapped mode; default 1000).", valueName: "n"))
    var cacheSize: Int?
    @Option(help: ArgumentHelp("Dev mode: group given the socket (mode 0660).", valueName: "group")) var socketGroup: String?
    @Option(help: ArgumentHelp("Dev mode: seconds a connection may idle before it is closed (default 60).", valueName: "s"))
    var idleTimeout: Int?
    @Option(help: ArgumentHelp("Dev mode: seconds a client may take to send one request (default 10).", valueName: "s"))
    var requestTimeout: Int?
    @Option(help: ArgumentHelp("""
        Dev mode: also listen on this loopback address (e.g. 127.0.0.1:4599; port 0 picks one) for AWS SDKs, \
        with SigV4 and a dev access key written to DIR/aws-config (profile p11kms).
        """, valueName: "ip:port"))
    var tcp: String?
    @Option(help: ArgumentHelp("Dev mode: requests that may wait for an HSM session before ThrottlingException (default 512).",
                               valueName: "n"))
    var maxQueuedRequests: Int?
    @Option(help: ArgumentHelp("Dev mode: connections open at once (default 1024).", valueName: "n"))
    var maxConnections: Int?
    @Option(help: ArgumentHelp("Dev mode: connections one caller may hold open (default 3/4 of --max-connections).",
                               valueName: "n"))
    var maxConnectionsPerCaller: Int?
    @Option(help: ArgumentHelp("Dev mode: seconds SIGTERM lets requests in flight finish before cancelling them (default 10).",
                               valueName: "s"))
    var drainTimeout: Double?
    @Option(help: ArgumentHelp("Dev mode: seconds between runs of scheduled rotation and deletion (default 60).",
                               valueName: "s"))
    var schedulerInterval: Double?
    @Option(help: ArgumentHelp("""
        Dev mode: also serve the Kubernetes KMS v2 plugin on this socket, with the KEK alias/kubernetes \
        (created if missing).
        """, valueName: "path"))
    var kubernetesSocket: String?
    @Flag(help: ArgumentHelp("""
        Once, where the domain key does not enforce its unwrap template and the token cannot add it (p11kms token \
        setup --upgrade says so): re-wrap every version of a key made before per-key KEKs under a new KEK of its own, \
        inside the HSM, then replace the domain key with one that has the template. A database backup from before no \
        longer unwraps; take a new one after.
        """))
    var replaceDomainKey = false
    @Option(help: ArgumentHelp("""
        Dev mode: also make (once) a second SoftHSM2 token with this label, a custom key store's CloudHsmClusterId \
        (cluster-[2-7a-zA-Z]{11,16}); its user PIN, the KeyStorePassword, is in --state-dir/NAME.user-pin. Repeatable.
        """, valueName: "name"))
    var extraToken: [String] = []

    func validate() throws {
        guard dev != (config != nil) else {
            throw ValidationError("give either --config FILE (production) or --dev (development)")
        }
        if let keyStorage, !["wrapped", "token"].contains(keyStorage) {
            throw ValidationError("--key-storage must be wrapped or token")
        }
        if !dev && (keyStorage != nil || cacheSize != nil || socketGroup != nil || idleTimeout != nil || requestTimeout != nil
                    || tcp != nil || maxQueuedRequests != nil || maxConnections != nil || maxConnectionsPerCaller != nil
                    || drainTimeout != nil || schedulerInterval != nil || kubernetesSocket != nil) {
            throw ValidationError("--key-storage, --cache-size, --socket-group, the timeouts, --tcp, the connection and "
                                  + "request bounds, --scheduler-interval and --kubernetes-socket go with --dev; "
                                  + "set them in the config file otherwise")
        }
        if let maxQueuedRequests, maxQueuedRequests < 0 { throw ValidationError("--max-queued-requests must not be negative") }
        if let cacheSize, cacheSize <= 0 { throw ValidationError("--cache-size must be positive") }
        if let t = idleTimeout ?? requestTimeout, t <= 0 { throw ValidationError("timeouts must be positive") }
        if let n = maxConnections ?? maxConnectionsPerCaller, n <= 0 { throw ValidationError("connection bounds must be positive") }
        if let t = drainTimeout, !(t > 0) { throw ValidationError("--drain-timeout must be positive") }
        if let t = schedulerInterval, !(t >= 0.01) { throw ValidationError("--scheduler-interval must be at least 0.01") }
    }

    func run() async throws {
        // Tests' daemons die with the test process, even when it crashes
        // (one that did left 78 daemons behind, deaf to SIGTERM with their
        // pipes gone): with P11KMS_EXIT_WITH_PARENT=1 a thread checks the
        // parent every second and ends the daemon once it is gone.
        if ProcessInfo.processInfo.environment["P11KMS_EXIT_WITH_PARENT"] == "1" {
            let parent = getppid()
            Thread.detachNewThread {
                while getppid() == parent { sleep(1) }
                kill(getpid(), SIGKILL)
            }
        }
        // Everything the daemon creates (state, store, socket before it is
        // opened to its group) starts owner-only.
        umask(0o077)
        raiseOpenFileLimit()
        // A file-size limit reached must fail the write (EFBIG, and the
        // audit log then fails closed), not kill the daemon with SIGXFSZ.
        signal(SIGXFSZ, SIG_IGN)
        var configuration: DaemonConfiguration
        do {
            if dev {
                var c = try DevSetup.configuration(stateDirectory: stateDir, keyStorage: keyStorage)
                c.server.socketGroup = socketGroup
                if let cacheSize { c.cacheSize = cacheSize }
                if let idleTimeout { c.server.idleTimeout = .seconds(Int64(idleTimeout)) }
                if let requestTimeout { c.server.requestTimeout = .seconds(Int64(requestTimeout)) }
                c.server.maxConcurrentRequests = c.poolSize + (maxQueuedRequests ?? DaemonConfiguration.defaultMaxQueuedRequests)
                if let maxConnections { c.server.maxConnections = maxConnections }
                if let maxConnectionsPerCaller { c.server.maxConnectionsPerCallerSetting = maxConnectionsPerCaller }
                if let drainTimeout { c.server.drainTimeout = .milliseconds(Int64(drainTimeout * 1000)) }
                if let schedulerInterval { c.schedulerInterval = .milliseconds(Int64(schedulerInterval * 1000)) }
                if let tcp { try DevSetup.addTCPListener(&c, listen: tcp) }
                for name in extraToken {
                    guard DaemonConfiguration.ExtraToken.isValidName(name) else {
                        throw ValidationError("--extra-token \(name) must look like a CloudHSM cluster id, cluster-[2-7a-zA-Z]{11,16}")
                    }
                    _ = try DevToken.prepareExtra(stateDirectory: c.stateDirectory, name: name)
                    c.extraTokens.append(DaemonConfiguration.ExtraToken(name: name, module: c.module, tokenLabel: name))
                }
                if let kubernetesSocket {
                    c.kubernetes = KubernetesPluginConfiguration(socketPath: kubernetesSocket, socketGroup: socketGroup)
                }
                configuration = c
            } else {
                configuration = try DaemonConfiguration.load(path: config!)
            }
        } catch {
            FileHandle.standardError.write(Data("p11kmsd: \(error)\n".utf8))
            throw ExitCode(2)
        }
        configuration.replaceUnenforcedDomainKey = replaceDomainKey
        let level = Logger.Level(rawValue: ProcessInfo.processInfo.environment["P11KMS_LOG_LEVEL"] ?? configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "p11kmsd")
        do {
            try await Daemon(configuration: configuration, dev: dev, logger: logger).run()
        } catch {
            logger.critical("p11kmsd stopped: \(error)")
            FileHandle.standardError.write(Data("p11kmsd: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Every connection is a descriptor: take the hard limit, not the soft one
/// (often 1024), so the connection bound is what refuses clients, not EMFILE.
func raiseOpenFileLimit() {
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
}
