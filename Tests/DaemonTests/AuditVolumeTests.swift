import DaemonTestSupport
import Dispatch
import Foundation
import Synchronization
import Testing

@Suite("Audit log under load")
struct AuditVolumeTests {
    @Test func tenThousandMixedRequestsLeaveAnIntactSignedLog() async throws {
        try await withDaemon { d in
            let key = (try d.callJSON("CreateKey", [:]).1["KeyMetadata"] as! [String: Any])["KeyId"] as! String
            let blob = try d.callJSON("Encrypt", ["KeyId": key, "Plaintext": "aGk="]).1["CiphertextBlob"] as! String
            let requests = [
                ("GenerateRandom", #"{"NumberOfBytes":16}"#),
                ("Encrypt", #"{"KeyId":"\#(key)","Plaintext":"aGVsbG8="}"#),
                ("Decrypt", #"{"CiphertextBlob":"\#(blob)"}"#),
                ("DescribeKey", #"{"KeyId":"\#(key)"}"#),
                ("DescribeKey", #"{"KeyId":"00000000-0000-0000-0000-000000000000"}"#), // NotFoundException
            ]
            let statuses = Mutex<[Int: Int]>([:])
            // Eight connections on their own threads (blocking I/O stays off the task pool).
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    DispatchQueue.concurrentPerform(iterations: 8) { worker in
                        guard let client = try? d.client() else { return }
                        for i in 0..<1250 {
                            let (op, body) = requests[(worker + i) % requests.count]
                            let status = (try? client.operation(op, body).status) ?? -1
                            statuses.withLock { $0[status, default: 0] += 1 }
                        }
                    }
                    done.resume()
                }
            }
            let counts = statuses.withLock { $0 }
            #expect(counts[200] == 8000 && counts[400] == 2000, "\(counts)")
            #expect(try await d.stop() == 0)

            let events = try String(contentsOfFile: d.stateDirectory + "/audit/audit.log", encoding: .utf8)
                .split(separator: "\n").filter { $0.contains(#""type":"event""#) && $0.contains(#""request_id""#) }
            #expect(events.count >= 10_002, "every request has its line (\(events.count))")
            let (status, report) = try await DaemonProcess.run(try DaemonProcess.cli(), [
                "audit", "verify", d.stateDirectory + "/audit", "--public-key", d.stateDirectory + "/audit-public-key.pem",
                "--require-signed", "--json"])
            #expect(status == 0, "\(report)")
            let result = try JSONSerialization.jsonObject(with: Data(report.utf8)) as? [String: Any]
            #expect(result?["intact"] as? Bool == true)
            #expect((result?["checkpoints_verified"] as? Int ?? 0) >= 10)
        }
    }
}
