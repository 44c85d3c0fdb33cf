import Crypto
import Foundation
import HTTP
import Testing

@testable import ServiceKit

@Suite("Service tokens")
struct ServiceTokenTests {
    let saga = ServiceAuthenticator(service: "saga", secret: "a-long-enough-shared-secret")
    let payment = ServiceAuthenticator(service: "payment", secret: "a-long-enough-shared-secret")

    @Test func aSignedTokenVerifiesForItsAudience() throws {
        let token = saga.token(for: "payment")
        let verified = try payment.verify(authorization: "Bearer \(token)")
        #expect(verified.caller == "saga")
        #expect(verified.audience == "payment")
    }

    @Test func refusals() throws {
        let token = saga.token(for: "payment")
        #expect(throws: ServiceToken.Failure.wrongAudience) { try saga.verify(authorization: "Bearer \(token)") }
        let other = ServiceAuthenticator(service: "payment", secret: "a-different-secret-of-length")
        #expect(throws: ServiceToken.Failure.badSignature) { try other.verify(authorization: "Bearer \(token)") }
        var tampered = Array(token)
        tampered[3] = tampered[3] == "A" ? "B" : "A"
        #expect(throws: ServiceToken.Failure.self) { try payment.verify(authorization: "Bearer \(String(tampered))") }
        #expect(throws: ServiceToken.Failure.malformed) { try payment.verify(authorization: nil) }
        #expect(throws: ServiceToken.Failure.malformed) { try payment.verify(authorization: "Basic abc") }
        #expect(throws: ServiceToken.Failure.malformed) { try payment.verify(authorization: "Bearer not-a-token") }
        let key = SymmetricKey(data: Data("a-long-enough-shared-secret".utf8))
        let expired = ServiceToken(caller: "saga", audience: "payment", expiry: Int64(Date().timeIntervalSince1970) - 1).sign(secret: key)
        #expect(throws: ServiceToken.Failure.expired) { try payment.verify(authorization: "Bearer \(expired)") }
    }

    @Test func middlewareAnswers401WithoutAValidTokenAndLetsHealthThrough() async throws {
        var router = Router()
        router.get("/internal") { _ in Response.text("caller=\(CallerContext.caller ?? "none")") }
        router.get("/refuse") { _ in throw HTTPError(.conflict, code: "out_of_stock") }
        router.get("/health/live") { _ in Response.text("live") }
        let responder = chain([ServiceMiddleware.errors(logger: .init(label: "t")), payment.middleware()], router.responder)
        let server = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), responder: responder)
        try server.start()
        let client = HTTPClient()
        let base = "http://127.0.0.1:\(server.port)"
        let anonymous = try await client.get("\(base)/internal")
        #expect(anonymous.status.code == 401)
        #expect(anonymous.headers["Content-Type"] == "application/problem+json")
        #expect(anonymous.headers["WWW-Authenticate"] == "Bearer")
        let wrongAudience = try await client.get("\(base)/internal", headers: saga.authorization(for: "shipping"))
        #expect(wrongAudience.status.code == 401)
        let good = try await client.get("\(base)/internal", headers: saga.authorization(for: "payment"))
        #expect(good.bodyText == "caller=saga")
        // A handler's own error passes through the token check unchanged.
        let refused = try await client.get("\(base)/refuse", headers: saga.authorization(for: "payment"))
        #expect(refused.status.code == 409)
        #expect(try await client.get("\(base)/health/live").status.code == 200)
        await server.shutdown()
    }
}

@Suite("W3C trace context")
struct TraceContextTests {
    @Test func parsesAndContinues() throws {
        let parent = try #require(TraceContext(traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))
        #expect(parent.traceID == "0af7651916cd43dd8448eb211c80319c")
        #expect(parent.spanID == "b7ad6b7169203331")
        let child = parent.child()
        #expect(child.traceID == parent.traceID)
        #expect(child.spanID != parent.spanID)
        #expect(child.traceparent.hasPrefix("00-0af7651916cd43dd8448eb211c80319c-"))
        #expect(TraceContext(traceparent: child.traceparent) == child)
        let root = TraceContext.newRoot()
        #expect(root.traceID.count == 32 && root.spanID.count == 16)
    }

    @Test(arguments: [
        "", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        "00-xyz7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ])
    func rejectsMalformed(_ header: String) {
        #expect(TraceContext(traceparent: header) == nil)
    }

    @Test func uuidv7IsTimeOrdered() {
        let early = UUIDv7.generate(now: Date(timeIntervalSince1970: 1_000))
        let late = UUIDv7.generate(now: Date(timeIntervalSince1970: 2_000))
        #expect(early.uuidString < late.uuidString)
        #expect(Array(late.uuidString)[14] == "7")
    }
}
