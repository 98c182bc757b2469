import Foundation

/// `gatewayctl status`: /status as a table people read.
enum StatusTable {
    static func render(_ json: [String: Any]) -> String {
        var out = ""
        let num = { (v: Any?) -> String in
            if let d = v as? Double { return d == d.rounded() ? String(Int(d)) : String(format: "%.1f", d) }
            if let i = v as? Int { return String(i) }
            return "-"
        }
        out += "master \(num(json["pid"]))  version \(json["version"] as? String ?? "?")  generation \(num(json["generation"]))"
        out += "  \(json["phase"] as? String ?? "?")  up \(num(json["uptime_seconds"]))s  requests \(num(json["requests_total"]))\n"
        if let r = json["reload"] as? [String: Any] {
            out += "reload to generation \(num(r["generation"])) in progress (\(num(r["seconds"]))s)\n"
        }
        for l in json["listeners"] as? [[String: Any]] ?? [] {
            let proto = l["protocol"] as? String ?? "http"
            out += "listener \(proto == "http" ? "" : proto + ":")\(l["address"] as? String ?? "?")  queue \(num(l["queue_length"]))/\(num(l["queue_max"]))"
            out += " (max reached \(num(l["queue_max_reached"])))\n"
        }
        if let c = json["connections"] as? [String: Any] {
            out += "connections: reading \(num(c["reading"])), writing \(num(c["writing"])), waiting \(num(c["waiting"]))"
            out += "; max children reached \(num(json["max_children_reached"]))\n"
        }
        if json["threads_total"] != nil {
            out += "app threads: \(num(json["threads_busy"]))/\(num(json["threads_total"])) busy (\(num(json["threads"])) per worker)"
            out += "; requests waiting for a thread \(num(json["queued"]))\n"
        }
        out += "\n" + pad(["PID", "SLOT", "GEN", "STATE", "THREADS", "QUEUED", "REQS", "USS", "AGE", "REQUEST"]) + "\n"
        for w in json["workers"] as? [[String: Any]] ?? [] {
            var request = ""
            if let r = w["request"] as? [String: Any] {
                request = "\(r["method"] as? String ?? "") \(r["path"] as? String ?? "") (\(num(r["seconds"]))s)"
            }
            let uss = (w["uss_bytes"] as? Double ?? Double(w["uss_bytes"] as? Int ?? 0)) / 1_048_576
            // THREADS: busy/total app threads
            let threads = "\(num(w["busy_threads"] ?? 0))/\(num(w["threads"] ?? 1))"
            out += pad([num(w["pid"]), num(w["slot"]), num(w["generation"]), w["state"] as? String ?? "?",
                        threads, num(w["queued"] ?? 0), num(w["requests"]), String(format: "%.1fM", uss),
                        num(w["age_seconds"]) + "s", request]) + "\n"
            // the first busy thread's request is on the worker's row; the others below it
            let busy = (w["app_threads"] as? [[String: Any]] ?? []).filter { $0["request"] is [String: Any] }
            for t in busy.dropFirst() {
                let r = t["request"] as? [String: Any] ?? [:]
                out += String(repeating: " ", count: 65)
                out += "thread \(num(t["index"])): \(r["method"] as? String ?? "") \(r["path"] as? String ?? "") (\(num(r["seconds"]))s)\n"
            }
        }
        return out
    }

    static func pad(_ cells: [String]) -> String {
        let widths = [8, 5, 4, 9, 8, 7, 8, 8, 8, 0]
        return zip(cells, widths).map { c, w in c.count >= w ? c + (w > 0 ? " " : "") : c + String(repeating: " ", count: w - c.count) }.joined()
    }
}
