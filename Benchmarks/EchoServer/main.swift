import ArgumentParser
import Foundation
import HTTP
import ServiceKit

/// The benchmark server: the service kit with its standard middleware and two routes,
/// `GET /health` and `POST /echo` (answers the JSON body it was sent),
/// plus `GET /slow?ms=` for the graceful-shutdown test.
struct EchoServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-server",
        abstract: "The benchmark server: the service kit with GET /health and POST /echo (make bench-http).",
        discussion: "Listens on 127.0.0.1."
    )

    @Option(help: "The port to listen on (PORT; default 8090).")
    var port: Int?

    @Option(help: "trace, debug, info, notice, warning, error or critical (LOG_LEVEL; default info).")
    var logLevel: String?
}

let options = EchoServerCommand.parseOrExit()
if let port = options.port { setenv("PORT", String(port), 1) }
if let level = options.logLevel { setenv("LOG_LEVEL", level, 1) }
let runtime = try ServiceRuntime(name: "echo", defaultPort: 8090)
var router = Router()
// The same fixed document Hummingbird's and nginx's /health answer (a server benchmark, not JSONEncoder's).
let healthy = Array(#"{"status":"ok"}"#.utf8)
router.get("/health") { _ in Response.json(text: healthy) }
router.post("/echo") { request in
    Response.json(text: request.body)
}
router.get("/slow") { request in
    // For the graceful-shutdown test: a request that is still in flight when SIGTERM arrives.
    let ms = min(10_000, Int(request.query["ms"] ?? "500") ?? 500)
    try await Task.sleep(for: .milliseconds(ms))
    return try Response.json(["slept": ms])
}
OperationsRoutes.mount(on: &router, checks: [:], metrics: runtime.metrics)
let server = try runtime.makeServer(router: router, authenticated: false, host: "127.0.0.1")
try await runtime.run([HTTPService(server: server)])
