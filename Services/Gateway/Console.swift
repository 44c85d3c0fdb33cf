import FoundationEssentials
import HTTP

/// The operators' console at `/console`: a page, a script and a style sheet carried in the gateway's executable
/// (no build chain, no CDN). The page signs in with an admin key kept in the tab's session storage and
/// reads the public API like any client. A strict Content-Security-Policy allows scripts and styles from
/// the gateway only, so nothing inline runs, and the script writes every value as text, never as markup.
struct Console: Sendable {
    /// File name to (content type, bytes), read once at start.
    let files: [String: (type: String, body: [UInt8])]

    static let contentTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
    ]

    static let securityHeaders: [(String, String)] = [
        (
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
                + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-cache"),
    ]

    /// The console's files, carried in the gateway's executable (`Embedded.console`).
    static func embedded() -> Console {
        var files: [String: (type: String, body: [UInt8])] = [:]
        for (name, body) in Embedded.console {
            guard let dot = name.lastIndex(of: "."), let type = contentTypes[String(name[name.index(after: dot)...])] else { continue }
            files[name] = (type, body)
        }
        return Console(files: files)
    }

    func mount(on router: inout Router) {
        let console = self
        router.get("/console") { _ in try console.response(for: "index.html") }
        router.get("/console/{file}") { request in try console.response(for: request.parameters["file"] ?? "") }
    }

    func response(for name: String) throws -> Response {
        guard let file = files[name] else { throw HTTPError.notFound("The console has no file by this name.") }
        var headers = HTTPHeaders([("Content-Type", file.type)])
        for (field, value) in Self.securityHeaders { headers.add(name: field, value: value) }
        return Response(status: .ok, headers: headers, body: file.body)
    }
}
