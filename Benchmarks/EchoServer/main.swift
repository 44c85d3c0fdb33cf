import HTTP
import ServiceKit

/// The benchmark server: the service kit with its standard middleware and two routes,
/// `GET /health` and `POST /echo` (answers the JSON body it was sent),
/// plus `GET /slow?ms=` for the graceful-shutdown test.
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
