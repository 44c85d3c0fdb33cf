import Foundation
import HTTP

var router = Router()
router.get("/health") { _ in Response.text("ok") }
router.post("/echo") { request in Response(status: .ok, headers: HTTPHeaders([("Content-Type", "application/json")]), body: request.body) }
let port = Int(ProcessInfo.processInfo.environment["PORT"] ?? "8090") ?? 8090
let server = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: port), responder: router.responder)
try await server.run()
