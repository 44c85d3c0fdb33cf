import Contracts
import Crypto
import Foundation
import HTTP
import Testing

@testable import ServiceKit

@Suite("Service tokens")
struct ServiceTokenTests {
    let saga = ServiceAuthenticator.development(service: "saga")
    let payment = ServiceAuthenticator.development(service: "payment")

    @Test func aSignedTokenVerifiesForItsAudience() throws {
        let token = saga.token(for: "payment")
        let verified = try payment.verify(authorization: "Bearer \(token)")
        #expect(verified.caller == "saga")
        #expect(verified.audience == "payment")
    }

    @Test func refusals() throws {
        let token = saga.token(for: "payment")
        #expect(throws: ServiceToken.Failure.wrongAudience) { try saga.verify(authorization: "Bearer \(token)") }
        // A payment service that knows another public key for the saga refuses the saga's signature.
        let impostor = Curve25519.Signing.PrivateKey()
        let other = ServiceAuthenticator(
            service: "payment",
            signingKey: Curve25519.Signing.PrivateKey().rawRepresentation,
            publicKeys: ["saga": impostor.publicKey.rawRepresentation]
        )
        #expect(throws: ServiceToken.Failure.badSignature) { try other.verify(authorization: "Bearer \(token)") }
        // A token signed by one service that names another as its caller: shipping cannot pass for the saga.
        let shippingKey = ServiceAuthenticator.developmentKey("shipping")
        let forged = ServiceToken(caller: "saga", audience: "payment", expiry: Int64(Date().timeIntervalSince1970) + 30).sign(
            with: shippingKey
        )
        #expect(throws: ServiceToken.Failure.badSignature) { try payment.verify(authorization: "Bearer \(forged)") }
        let stranger = ServiceToken(caller: "mallory", audience: "payment", expiry: Int64(Date().timeIntervalSince1970) + 30)
            .sign(with: shippingKey)
        #expect(throws: ServiceToken.Failure.unknownCaller) { try payment.verify(authorization: "Bearer \(stranger)") }
        var tampered = Array(token)
        tampered[3] = tampered[3] == "A" ? "B" : "A"
        #expect(throws: ServiceToken.Failure.self) { try payment.verify(authorization: "Bearer \(String(tampered))") }
        #expect(throws: ServiceToken.Failure.malformed) { try payment.verify(authorization: nil) }
        #expect(throws: ServiceToken.Failure.malformed) { try payment.verify(authorization: "Basic abc") }
        #expect(throws: ServiceToken.Failure.malformed) { try payment.verify(authorization: "Bearer not-a-token") }
        let sagaKey = ServiceAuthenticator.developmentKey("saga")
        let expired = ServiceToken(caller: "saga", audience: "payment", expiry: Int64(Date().timeIntervalSince1970) - 1).sign(with: sagaKey)
        #expect(throws: ServiceToken.Failure.expired) { try payment.verify(authorization: "Bearer \(expired)") }
        // A token may live 60 s at most: one valid for an hour is refused, however well signed.
        let longLived = ServiceToken(caller: "saga", audience: "payment", expiry: Int64(Date().timeIntervalSince1970) + 3600)
            .sign(with: sagaKey)
        #expect(throws: ServiceToken.Failure.lifetimeTooLong) { try payment.verify(authorization: "Bearer \(longLived)") }
        #expect(ServiceAuthenticator(service: "x", signingKey: sagaKey.rawRepresentation, publicKeys: [:], lifetime: 3600).lifetime == 60)
    }

    @Test("a route serves only the callers its rule names: 403 to others, and to everyone on a route without a rule")
    func routesDeclareTheirCallers() async throws {
        var router = Router()
        router.post("/v1/payments/{id}/capture") { _ in Response.text("captured") }
        router.get("/v1/undeclared") { _ in Response.text("never") }
        let access = ServiceAccess([("POST", "/v1/payments/{id}/capture", ["saga"])])
        let responder = chain(
            [ServiceMiddleware.errors(logger: .init(label: "t")), payment.middleware(router: router, access: access)],
            router.responder
        )
        let shipping = ServiceAuthenticator.development(service: "shipping")
        func call(_ method: String, _ path: String, as caller: ServiceAuthenticator) async throws -> Response {
            try await responder(
                Request(method: method, target: path, headers: caller.authorization(for: "payment").fields.map { ($0.name, $0.value) })
            )
        }
        #expect(try await call("POST", "/v1/payments/p1/capture", as: saga).bodyText == "captured")
        let refused = try await call("POST", "/v1/payments/p1/capture", as: shipping)
        #expect(refused.status.code == 403)
        #expect(refused.bodyText.contains("may not call POST /v1/payments/{id}/capture"))
        #expect(try await call("GET", "/v1/undeclared", as: saga).status.code == 403)
        #expect(try await call("GET", "/v1/no-such-route", as: saga).status.code == 404)
    }

    @Test func middlewareAnswers401WithoutAValidTokenAndLetsHealthThrough() async throws {
        var router = Router()
        router.get("/internal") { _ in Response.text("caller=\(CallerContext.caller ?? "none")") }
        router.get("/refuse") { _ in throw HTTPError(.conflict, code: "out_of_stock") }
        router.get("/health/live") { _ in Response.text("live") }
        let responder = chain([ServiceMiddleware.errors(logger: .init(label: "t")), payment.middleware()], router.responder)
        // Generous timeouts: in a loaded CI run this test's server went 10 s without reading and closed a
        // kept-alive connection under its client (connectionClosed); the timeouts have tests of their own.
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(
                host: "127.0.0.1",
                port: 0,
                headerReadTimeout: .seconds(60),
                keepAliveTimeout: .seconds(120)
            ),
            responder: responder
        )
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

    @Test("a service's own traceparent: a child span of a valid incoming one, written in one go")
    func serviceTraceparentContinuesAValidParent() throws {
        for flags in ["01", "00"] {
            let incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-\(flags)"
            let header = TraceContext.traceparent(continuing: incoming)
            let span = try #require(TraceContext(traceparent: header))
            #expect(span.traceID == "0af7651916cd43dd8448eb211c80319c")
            #expect(span.spanID != "b7ad6b7169203331")
            #expect(span.flags == flags)
            #expect(header == span.traceparent)
            #expect(TraceContext.traceparent(continuing: incoming) != header, "a new span id every time")
        }
    }

    @Test(
        "without a valid traceparent, a service starts a new trace",
        arguments: [
            nil, "", "00-00000000000000000000000000000000-b7ad6b7169203331-01", "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        ]
    )
    func serviceTraceparentStartsANewTrace(_ incoming: String?) throws {
        let first = try #require(TraceContext(traceparent: TraceContext.traceparent(continuing: incoming)))
        let second = try #require(TraceContext(traceparent: TraceContext.traceparent(continuing: incoming)))
        #expect(first.traceID != second.traceID)
        #expect(first.traceID != "0af7651916cd43dd8448eb211c80319c" && first.traceID.lowercased() != "0af7651916cd43dd8448eb211c80319c")
        #expect(first.flags == "01")
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

    @Test func uuidv7TextIsLowercaseAndOrdered() {
        let early = UUIDv7.string(now: Date(timeIntervalSince1970: 1_000))
        let late = UUIDv7.string(now: Date(timeIntervalSince1970: 1_000.002))
        #expect(early < late)
        #expect(early.count == 36 && early == early.lowercased())
        #expect(UUID(uuidString: early)?.uuidString.lowercased() == early)
        #expect(Array(early)[14] == "7")
        #expect(["8", "9", "a", "b"].contains(Array(early)[19]))
        #expect(UUIDv7.string() != UUIDv7.string())
        // 1,000,000 ms is 0xf4240: the first 48 bits, big-endian, then the version.
        #expect(early.hasPrefix("0000000f-4240-7"), "\(early)")
        #expect(UUIDv7.generate(now: Date(timeIntervalSince1970: 1_000)).uuidString.lowercased().hasPrefix("0000000f-4240-7"))
    }

    @Test func pooledRandomBytesHaveTheirLengthAndDiffer() {
        for count in [0, 1, 7, 8, 12, 33] { #expect(SecureRandom.pooledBytes(count).count == count) }
        #expect(SecureRandom.pooledBytes(12) != SecureRandom.pooledBytes(12))
        // Across the pool's 4 KiB blocks: a draw larger than a block is filled to its end, and what comes out
        // looks uniform (all 256 byte values, none more than twice as often as the mean, in 64 KiB).
        let large = SecureRandom.pooledBytes(5_000)
        #expect(large.suffix(1_000).contains { $0 != 0 } && large.prefix(1_000).contains { $0 != 0 })
        var counts = [Int](repeating: 0, count: 256)
        var generator = SecureRandom()
        for _ in 0..<4_096 {
            for byte in SecureRandom.pooledBytes(13) + withUnsafeBytes(of: generator.next(), Array.init) { counts[Int(byte)] += 1 }
        }
        #expect(counts.allSatisfy { $0 > 0 && $0 < 2 * 4_096 * 21 / 256 })
    }
}
