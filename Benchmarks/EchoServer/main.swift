import HTTP
import ServiceKit

/// The benchmark server: the service kit with its standard middleware and two routes,
/// `GET /health` and `POST /echo` (answers the JSON body it was sent).
let runtime = try ServiceRuntime(name: "echo", defaultPort: 8090)
var router = Router()
router.get("/health") { _ in try Response.json(["status": "ok"]) }
router.post("/echo") { request in
    Response(status: .ok, headers: HTTPHeaders([("Content-Type", "application/json")]), body: request.body)
}
OperationsRoutes.mount(on: &router, checks: [:], metrics: runtime.metrics)
let server = try runtime.makeServer(router: router, authenticated: false, host: "127.0.0.1")
try await runtime.run([HTTPService(server: server)])
