import Foundation
import KMSCore
@testable import KMSServer
import NIOCore
import Testing

@Suite("Config errors name the key and its line")
struct ConfigErrorTests {
    private let hsm = "[hsm]\ntoken_label = \"t\"\npin_file = \"/p\"\n"

    /// Parses `text`, expecting DaemonConfiguration.Invalid with exactly `message`.
    private func expectMessage(_ text: String, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let config = try DaemonConfiguration.parse(text)
            Issue.record("expected \(message), got \(config)", sourceLocation: sourceLocation)
        } catch let error as DaemonConfiguration.Invalid {
            #expect(error.description == message, sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected DaemonConfiguration.Invalid, got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("[[tokens]] entries name custom key stores' tokens, in the model's cluster id form")
    func extraTokens() throws {
        let config = try DaemonConfiguration.parse(hsm + """
            [[tokens]]
            name = "cluster-productionhsm"
            token_label = "prod"
            module = "/opt/vendor/lib.so"

            [[tokens]]
            name = "cluster-developmentsh"
            token_label = "dev"
            """)
        #expect(config.extraTokens == [
            .init(name: "cluster-productionhsm", module: "/opt/vendor/lib.so", tokenLabel: "prod"),
            .init(name: "cluster-developmentsh", module: config.module, tokenLabel: "dev"),
        ])
        expectMessage(hsm + "[[tokens]]\nname = \"prod\"\ntoken_label = \"p\"\n",
                      "tokens[0].name must look like a CloudHSM cluster id, cluster-[2-7a-zA-Z]{11,16} (it is what "
                      + "CreateCustomKeyStore's CloudHsmClusterId names)")
        expectMessage(hsm + "[[tokens]]\nname = \"cluster-productionhsm\"\n", "tokens[0].token_label is required")
        expectMessage(hsm + "[[tokens]]\nname = \"cluster-productionhsm\"\ntoken_label = \"t\"\n",
                      "tokens[0] is the daemon's own token (hsm.token_label); a custom key store needs another token")
        expectMessage(hsm + "[[tokens]]\nname = \"cluster-productionhsm\"\ntoken_label = \"p\"\n"
                      + "[[tokens]]\nname = \"cluster-productionhsm\"\ntoken_label = \"q\"\n",
                      "tokens[1].name cluster-productionhsm is given twice")
    }

    @Test("[rotation] min_period_days lowers the shortest rotation period to 1-90 days, and nothing else")
    func rotationMinimumPeriod() throws {
        #expect(try DaemonConfiguration.parse(hsm).minimumRotationPeriodDays == 90, "AWS's minimum by default")
        #expect(try DaemonConfiguration.parse(hsm + "[rotation]\nmin_period_days = 1\n").minimumRotationPeriodDays == 1)
        #expect(try DaemonConfiguration.parse(hsm + "[rotation]\nmin_period_days = 30\n").minimumRotationPeriodDays == 30)
        for days in [0, -3, 91, 2560] {
            expectMessage(hsm + "[rotation]\nmin_period_days = \(days)\n",
                          "rotation.min_period_days must be 1 to 90 (AWS's own minimum); it is \(days)")
        }
    }

    @Test("[[notify]] entries name a command or a pipe, the events they want and their attempts")
    func notifyTargets() throws {
        let config = try DaemonConfiguration.parse(hsm + """
            [[notify]]
            command = ["/usr/local/bin/page", "--team", "kms"]
            events = ["rotation", "rotation-overdue"]
            attempts = 3

            [[notify]]
            pipe = "/run/p11kms/events"
            """)
        #expect(config.notifications == [
            NotificationTarget(sink: .command(["/usr/local/bin/page", "--team", "kms"]), kinds: [.rotation, .rotationOverdue],
                               attempts: 3),
            NotificationTarget(sink: .pipe("/run/p11kms/events")),
        ])
        expectMessage(hsm + "[[notify]]\ncommand = [\"page\"]\n",
                      "notify[0].command must start with the program's absolute path, e.g. [\"/usr/local/bin/notify\", \"--to\", \"ops\"]")
        expectMessage(hsm + "[[notify]]\nevents = [\"rotation\"]\n", "notify[0] needs exactly one of command and pipe")
        expectMessage(hsm + "[[notify]]\npipe = \"/p\"\ncommand = [\"/bin/true\"]\n", "notify[0] needs exactly one of command and pipe")
        expectMessage(hsm + "[[notify]]\npipe = \"/p\"\nevents = [\"rotate\"]\n",
                      "notify[0].events: \"rotate\" is not an event; use rotation, disable, deletion-scheduled, deletion-done, "
                      + "import-expiry-approaching, rotation-overdue, integrity")
        expectMessage(hsm + "[[notify]]\npipe = \"/p\"\nattempts = 0\n", "notify[0].attempts must be 1 to 20")
    }

    @Test("an unknown key or table is refused with its line")
    func unknownKeys() {
        expectMessage(hsm + "\n# a comment\npool_sise = 4\n", "unknown key hsm.pool_sise (line 6)")
        expectMessage("statedir = \"/x\"\n" + hsm, "unknown key statedir (line 1)")
        expectMessage(hsm + "[server]\nsocket = \"/s\"\n  socket_path = \"/x\"\n", "unknown key server.socket_path (line 6)")
        expectMessage(hsm + "[hsms]\nx = 1\n", "unknown table [hsms] (line 4)")
        expectMessage(hsm + "[access_keys.ops]\naccess_key_id = \"A\"\nsecret = \"inline\"\n",
                      "unknown key access_keys.ops.secret (line 6)")
        // Every unknown name, in the order of the file.
        expectMessage("b = 1\n" + hsm + "a = 2\n", "unknown key b (line 1); unknown key hsm.a (line 5)")
        // Dotted keys and inline tables are TOML too, and placed on their line.
        expectMessage(hsm + "server.sockett = \"/x\"\n", "unknown table [hsm.server] (line 4)")
        expectMessage("server = { socket = \"/s\", sockett = \"/x\" }\n" + hsm, "unknown key server.sockett (line 1)")
    }

    @Test("a value of the wrong type is refused with the type wanted and its line")
    func wrongTypes() {
        expectMessage(hsm + "pool_size = \"8\"\n", "hsm.pool_size must be an integer, not a string (line 4)")
        expectMessage(hsm + "pool_size = 1.5\n", "hsm.pool_size must be an integer, not a floating-point number (line 4)")
        expectMessage(hsm + "module = 5\n", "hsm.module must be a string, not an integer (line 4)")
        expectMessage(hsm + "[access]\nadmins = \"uid:0\"\n", "access.admins must be an array, not a string (line 5)")
        expectMessage(hsm + "[access]\nadmins = [\"uid:0\",\n  7]\n", "access.admins[1] must be a string (line 5)")
        expectMessage("hsm = 1\n", "hsm must be a table, not an integer (line 1)")
    }

    @Test("a TOML syntax error is refused with its line and column")
    func syntax() {
        expectMessage(hsm + "pool_size = 4\npool_size = 5\n", "line 5, column 13: Error while parsing key-value pair: cannot redefine existing integer 'pool_size'")
        do {
            _ = try DaemonConfiguration.parse(hsm + "[server]\nsocket = \"/unterminated\n")
            Issue.record("accepted an unterminated string")
        } catch {
            #expect("\(error)".hasPrefix("line 5, column "), "\(error)")
        }
    }

    @Test("the line finder reads headers, quoted and dotted keys, and skips comments")
    func lines() {
        let lines = TOMLKeyLines("""
            # top = 1
            top = 1
            [ "a" . b ]  # header
            'quoted.key' = "x = y"
            c.d = 2
            list = [
              "e = f",
            ]
            [a.b.inline]
            """)
        #expect(lines.line(of: ["top"]) == 2)
        #expect(lines.line(of: ["a", "b"]) == 3)
        #expect(lines.line(of: ["a", "b", "quoted.key"]) == 4)
        #expect(lines.line(of: ["a", "b", "c", "d"]) == 5)
        #expect(lines.line(of: ["a", "b", "list"]) == 6)
        #expect(lines.line(of: ["a", "b", "missing"]) == 3, "an unknown key falls back to its table's line")
        #expect(lines.line(of: ["a", "b", "inline", "x"]) == 9)
        #expect(lines.line(of: ["nowhere"]) == nil)
    }
}

@Suite("Daemon configuration")
struct DaemonConfigurationTests {
    @Test("a full configuration sets every field")
    func full() throws {
        let config = try DaemonConfiguration.parse("""
            state_directory = "/srv/p11kms"
            log_level = "debug"
            scheduler_interval_seconds = 30

            [hsm]
            module = "/opt/hsm/lib.so"
            token_label = "prod"
            pin_file = "/etc/p11kms/pin"
            pool_size = 16

            [keys]
            storage = "token"
            cache_size = 5_000
            allow_unenforced_unwrap_template = true

            [server]
            socket = "/run/kms/k.sock"
            socket_group = "kmsusers"
            max_body_bytes = 32768
            max_header_bytes = 8192
            max_connections = 100
            idle_timeout_seconds = 20
            request_timeout_seconds = 3
            max_queued_requests = 64
            max_connections_per_caller = 10
            max_requests_per_caller = 20
            drain_timeout_seconds = 5
            metrics_readers = ["uid:4242", "group:monitoring"]

            [arn]
            partition = "aws-cn"
            region = "eu-west-1"
            account = "111122223333"
            """)
        #expect(config.module == "/opt/hsm/lib.so")
        #expect(config.token == .label("prod"))
        #expect(config.pin == .file("/etc/p11kms/pin"))
        #expect(config.poolSize == 16)
        #expect(config.stateDirectory == "/srv/p11kms")
        #expect(config.keyStorage == .token)
        #expect(config.cacheSize == 5000)
        #expect(config.allowUnenforcedUnwrapTemplate)
        #expect(config.server.metricsReaders == PrincipalSet(uids: [4242], groups: ["monitoring"]))
        #expect(config.arn == ARNFormat(partition: "aws-cn", region: "eu-west-1", account: "111122223333"))
        #expect(config.logLevel == "debug")
        #expect(config.schedulerInterval == .seconds(30))
        #expect(config.server.socketPath == "/run/kms/k.sock")
        #expect(config.server.socketGroup == "kmsusers")
        #expect(config.server.maxBodyBytes == 32768)
        #expect(config.server.maxHeaderBytes == 8192)
        #expect(config.server.maxConnections == 100)
        #expect(config.server.idleTimeout == .seconds(20))
        #expect(config.server.requestTimeout == .seconds(3))
        #expect(config.server.stateDirectory == "/srv/p11kms")
        #expect(config.server.maxConcurrentRequests == 16 + 64)
        #expect(config.server.maxConnectionsPerCaller == 10)
        #expect(config.server.maxRequestsPerCaller == 20)
        #expect(config.server.drainTimeout == .seconds(5))
    }

    @Test("a minimal configuration takes the documented defaults")
    func defaults() throws {
        let config = try DaemonConfiguration.parse("""
            [hsm]
            token_label = "t"
            pin_file = "/p"
            """)
        let server = ServerConfiguration(socketPath: "/run/p11kms/p11kms.sock")
        #expect(config.module == "/usr/lib/softhsm/libsofthsm2.so")
        #expect(config.token == .label("t"))
        #expect(config.pin == .file("/p"))
        #expect(config.poolSize == 8)
        #expect(config.stateDirectory == "/var/lib/p11kms")
        #expect(config.keyStorage == .wrapped)
        #expect(config.cacheSize == 1000)
        #expect(config.arn == ARNFormat(partition: "aws", region: "local", account: "000000000000"))
        #expect(config.logLevel == "info")
        #expect(config.schedulerInterval == .seconds(60))
        #expect(config.server.socketPath == server.socketPath)
        #expect(config.server.socketGroup == nil)
        #expect(config.server.maxBodyBytes == 64 * 1024)
        #expect(config.server.maxHeaderBytes == server.maxHeaderBytes)
        #expect(config.server.maxConnections == server.maxConnections)
        #expect(config.server.idleTimeout == server.idleTimeout)
        #expect(config.server.requestTimeout == server.requestTimeout)
        #expect(config.server.stateDirectory == "/var/lib/p11kms")
    }

    @Test("each token selector and PIN source is read",
          arguments: [
            ("token_serial = \"0123abcd\"\npin_env = \"P11KMS_PIN\"",
             DaemonConfiguration.TokenSelector.serial("0123abcd"), DaemonConfiguration.PINSource.environment("P11KMS_PIN")),
            ("slot_id = 0\npin_credential = \"user-pin\"", .slot(0), .credential("user-pin")),
            ("slot_id = 1_234\npin_file = \"/p\"", .slot(1234), .file("/p")),
          ])
    func selectors(_ hsm: String, _ token: DaemonConfiguration.TokenSelector, _ pin: DaemonConfiguration.PINSource) throws {
        let config = try DaemonConfiguration.parse("[hsm]\n" + hsm)
        #expect(config.token == token)
        #expect(config.pin == pin)
    }

    /// Parses `text`, expecting a refusal whose description contains every fragment.
    private func expectRefusal(_ text: String, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let config = try DaemonConfiguration.parse(text)
            Issue.record("expected a refusal, got \(config)", sourceLocation: sourceLocation)
        } catch {
            let description = String(describing: error)
            for fragment in fragments {
                #expect(description.contains(fragment), "\(description)", sourceLocation: sourceLocation)
            }
        }
    }

    private let minimalHSM = "[hsm]\ntoken_label = \"t\"\npin_file = \"/p\"\n"

    @Test("the token is chosen by exactly one selector")
    func tokenSelectors() {
        expectRefusal("[hsm]\ntoken_label = \"a\"\ntoken_serial = \"b\"\npin_file = \"/p\"",
                      "hsm.token_label", "hsm.token_serial", "hsm.slot_id")
        expectRefusal("[hsm]\ntoken_label = \"a\"\nslot_id = 1\npin_file = \"/p\"", "exactly one of hsm.token_label")
        expectRefusal("[hsm]\npin_file = \"/p\"", "exactly one of hsm.token_label")
        expectRefusal("pin_file = \"/p\"", "unknown key pin_file")
    }

    @Test("the PIN comes from exactly one source, never the config itself")
    func pinSources() {
        expectRefusal("[hsm]\ntoken_label = \"a\"", "hsm.pin_file", "hsm.pin_env", "hsm.pin_credential")
        expectRefusal("[hsm]\ntoken_label = \"a\"\npin_file = \"/p\"\npin_env = \"PIN\"", "exactly one of hsm.pin_file")
        expectRefusal("[hsm]\ntoken_label = \"a\"\npin_env = \"PIN\"\npin_credential = \"c\"", "exactly one of hsm.pin_file")
        expectRefusal("[hsm]\ntoken_label = \"a\"\npin = \"1234\"", "unknown key hsm.pin")
    }

    @Test("unknown keys and tables are errors naming them")
    func unknownNames() {
        expectRefusal(minimalHSM + "pool_sise = 4", "unknown key hsm.pool_sise")
        expectRefusal(minimalHSM + "[server]\nsocket_path = \"/x\"", "unknown key server.socket_path")
        expectRefusal("statedir = \"/x\"\n" + minimalHSM, "unknown key statedir")
        expectRefusal(minimalHSM + "[hsms]\nx = 1", "unknown table [hsms]")
        expectRefusal(minimalHSM + "[audits]", "unknown table [audits]")
        expectRefusal(minimalHSM + "[access]\nadmin = [\"uid:0\"]", "unknown key access.admin")
    }

    @Test("[access] and [audit] are read")
    func accessAndAudit() throws {
        let config = try DaemonConfiguration.parse(minimalHSM + """
            [access]
            admins = ["user:alice", "group:p11kms-admin", "uid:0"]
            allow_create_key = ["gid:2000"]
            allow_generate_random = ["*"]
            [audit]
            directory = "/var/log/p11kms"
            max_file_bytes = 1_000_000
            checkpoint_every_lines = 50
            checkpoint_every_seconds = 5
            """)
        #expect(config.access.admins == PrincipalSet(users: ["alice"], uids: [0], groups: ["p11kms-admin"]))
        #expect(config.access.keyCreators == PrincipalSet(gids: [2000]))
        #expect(config.access.randomCallers == PrincipalSet(everyone: true))
        #expect(config.auditDirectory == "/var/log/p11kms" && config.auditMaxFileBytes == 1_000_000)
        #expect(config.auditCheckpointLines == 50 && config.auditCheckpointSeconds == 5)
        let defaults = try DaemonConfiguration.parse(minimalHSM)
        #expect(defaults.access.admins == PrincipalSet(uids: [0]), "root administers by default")
        #expect(defaults.access.keyCreators == PrincipalSet())
        #expect(defaults.auditDirectory == defaults.stateDirectory + "/audit")
        expectRefusal(minimalHSM + "[access]\nadmins = [\"root\"]", "access.admins", "root")
        expectRefusal(minimalHSM + "[access]\nadmins = \"uid:0\"", "access.admins")
        expectRefusal(minimalHSM + "[access]\nallow_create_key = [\"uid:x\"]", "access.allow_create_key")
    }

    @Test("keys.storage is wrapped or token")
    func storage() throws {
        expectRefusal(minimalHSM + "[keys]\nstorage = \"bogus\"", "keys.storage", "bogus")
        expectRefusal(minimalHSM + "[keys]\nstorage = \"Token\"", "keys.storage")
        #expect(try DaemonConfiguration.parse(minimalHSM + "[keys]\nstorage = \"wrapped\"").keyStorage == .wrapped)
    }

    @Test("arn.account is 12 ASCII digits",
          arguments: ["12345", "1234567890123", "12345678901a", "", "１２３４５６７８９０１２", "١٢٣٤٥٦٧٨٩٠١٢", "12345678901½"])
    func account(_ account: String) {
        expectRefusal(minimalHSM + "[arn]\naccount = \"\(account)\"", "arn.account")
    }

    @Test("log_level is a swift-log level")
    func logLevel() throws {
        expectRefusal("log_level = \"verbose\"\n" + minimalHSM, "log_level", "verbose")
        #expect(try DaemonConfiguration.parse("log_level = \"trace\"\n" + minimalHSM).logLevel == "trace")
    }

    @Test("counts and durations must be positive; slot ids must not be negative",
          arguments: [
            ("hsm", "pool_size"), ("keys", "cache_size"), ("server", "max_body_bytes"), ("server", "max_header_bytes"),
            ("server", "max_connections"), ("server", "idle_timeout_seconds"), ("server", "request_timeout_seconds"),
            ("", "scheduler_interval_seconds"), ("server", "max_connections_per_caller"),
            ("server", "max_requests_per_caller"), ("server", "drain_timeout_seconds"),
            ("audit", "max_file_bytes"), ("audit", "checkpoint_every_lines"), ("audit", "checkpoint_every_seconds"),
          ])
    func negative(_ table: String, _ key: String) {
        let name = table.isEmpty ? key : "\(table).\(key)"
        for value in ["-1", "0", "-9_000"] {
            let line = "\(key) = \(value)\n"
            let text = table.isEmpty ? line + minimalHSM
                : table == "hsm" ? minimalHSM + line
                : minimalHSM + "[\(table)]\n" + line
            expectRefusal(text, name, "positive")
        }
    }

    @Test("a negative slot id is refused, not a crash")
    func negativeSlot() {
        expectRefusal("[hsm]\nslot_id = -1\npin_file = \"/p\"", "hsm.slot_id")
    }

    @Test("values of the wrong type are errors naming the key")
    func wrongTypes() {
        expectRefusal(minimalHSM + "pool_size = \"8\"", "hsm.pool_size", "integer")
        expectRefusal(minimalHSM + "module = 5", "hsm.module", "string")
        expectRefusal("[hsm]\ntoken_label = true\npin_file = \"/p\"", "hsm.token_label", "string")
        expectRefusal("[hsm]\nslot_id = \"0\"\npin_file = \"/p\"", "hsm.slot_id", "integer")
        expectRefusal("[hsm]\ntoken_label = \"t\"\npin_file = [\"/p\"]", "hsm.pin_file", "string")
        expectRefusal(minimalHSM + "[server]\nmax_connections = true", "server.max_connections", "integer")
        expectRefusal(minimalHSM + "[server]\nsocket = 1", "server.socket", "string")
        expectRefusal(minimalHSM + "[arn]\naccount = 111122223333", "arn.account", "string")
        expectRefusal("state_directory = [\"/a\"]\n" + minimalHSM, "state_directory", "string")
        expectRefusal("scheduler_interval_seconds = \"60\"\n" + minimalHSM, "scheduler_interval_seconds", "integer")
    }

    @Test("TOML errors come through with their line")
    func syntax() {
        expectRefusal(minimalHSM + "pool_size = 4\npool_size = 5", "line 5", "pool_size")
    }

    @Test("load names the file in every error")
    func load() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("p11kms-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/p11kmsd.toml"

        #expect(throws: DaemonConfiguration.Invalid.self) { try DaemonConfiguration.load(path: path) }
        do {
            _ = try DaemonConfiguration.load(path: path)
        } catch {
            #expect(String(describing: error).contains(path))
        }

        try Data((minimalHSM + "pool_size = 3\n").utf8).write(to: URL(fileURLWithPath: path))
        #expect(try DaemonConfiguration.load(path: path).poolSize == 3)

        for bad in [minimalHSM + "pool_size = 3\npool_size = 4\n", minimalHSM + "pool_sise = 3\n"] {
            try Data(bad.utf8).write(to: URL(fileURLWithPath: path))
            do {
                _ = try DaemonConfiguration.load(path: path)
                Issue.record("expected a refusal")
            } catch let error as DaemonConfiguration.Invalid {
                #expect(error.description.hasPrefix(path + ": "), "\(error)")
            }
        }
    }
}

@Suite("Shipped example configuration")
struct ExampleConfigTests {
    @Test func contribConfigParsesWithTheValuesItShows() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("contrib/p11kmsd.toml").path
        let config = try DaemonConfiguration.load(path: path)
        #expect(config.token == .label("p11kms") && config.pin == .credential("user-pin"))
        #expect(config.server.socketPath == "/run/p11kms/p11kms.sock" && config.server.socketGroup == "p11kms-clients")
        #expect(config.keyStorage == .wrapped && config.stateDirectory == "/var/lib/p11kms")
        #expect(config.access.admins.groups == ["p11kms-admin"] && config.access.keyCreators.groups == ["p11kms-creators"])
        #expect(config.auditDirectory == "/var/lib/p11kms/audit" && config.auditCheckpointLines == 1000)
        #expect(config.server.tcp == nil && config.server.maxConcurrentRequests == config.poolSize + 512)
        // The commented TCP example is valid as it stands: uncommented, it gets as far as reading the secret file.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let uncommented = text.replacingOccurrences(of: "\n# [tcp]", with: "\n[tcp]")
            .replacingOccurrences(of: "\n# listen", with: "\nlisten")
            .replacingOccurrences(of: "\n# [access_keys.billing]", with: "\n[access_keys.billing]")
            .replacingOccurrences(of: "\n# access_key_id", with: "\naccess_key_id")
            .replacingOccurrences(of: "\n# secret_file", with: "\nsecret_file")
        #expect(throws: DaemonConfiguration.Invalid.self) { try DaemonConfiguration.parse(uncommented) }
        do { _ = try DaemonConfiguration.parse(uncommented) } catch {
            #expect("\(error)".contains("cannot open the secret file of access key billing, /etc/p11kms/billing.secret"), "\(error)")
        }
    }
}
