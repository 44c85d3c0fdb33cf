import Foundation
import Hummingbird

/// GET /health answers a small JSON document; POST /echo answers the JSON body it was sent.
let port = Int(ProcessInfo.processInfo.environment["PORT"] ?? "8091") ?? 8091
let router = Router()
router.get("/health") { _, _ -> Response in
    Response(
        status: .ok,
        headers: [.contentType: "application/json"],
        body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#))
    )
}
router.post("/echo") { request, _ -> Response in
    let body = try await request.body.collect(upTo: 1 << 20)
    return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: body))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
