import Foundation
import HTTP
import TestSupport
import Testing

/// The public API against its OpenAPI document on a live system of its own (real processes, SQLite):
/// schemathesis generates requests for every operation (examples, coverage, fuzzing, and stateful runs
/// along the document's links) with a customer's key and with the admin key, and checks every answer for
/// server errors, undocumented statuses and content types, and bodies that break their schema; then the
/// document's links are followed from an approved checkout (checkout, then read the order, the checkout,
/// and cancel), each answer validated against its documented schema.
@Suite("The live API against its OpenAPI document (schemathesis)", .serialized)
struct OpenAPILiveTests {
    static let repository = FileManager.default.currentDirectoryPath
    static let checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"

    func schemathesis(_ system: SagaMartSystem, key: String, exclude: [String] = []) async throws -> (status: Int32?, output: String) {
        // One worker: with two, schemathesis's generator (Hypothesis's lambda-source cache, shared by its
        // threads) once failed a run with an internal FlakyFailure that had nothing to do with the API.
        var arguments = [
            "run", "\(system.gateway)/v1/openapi.json", "-H", "Authorization: Bearer \(key)", "--checks", Self.checks,
            "--max-examples", "10", "--seed", "20261201", "--workers", "1", "--request-timeout", "30", "--no-color",
        ]
        for operation in exclude { arguments += ["--exclude-name", operation] }
        let process = try ChildProcess("/usr/bin/env", ["schemathesis"] + arguments, environment: ProcessInfo.processInfo.environment)
        return (await process.wait(timeout: .seconds(600)), process.output)
    }

    @Test func schemathesisFindsNoFailureWithACustomersKeyOrTheAdminKey() async throws {
        let system = try await SagaMartSystem(layout: .sqlite)
        defer { system.stopAll() }
        // The document's checkout example names STICKER-001: with stock, the examples and the stateful runs
        // reach approved checkouts and the operations their links lead to.
        let created = try await system.call(
            "POST",
            "/v1/products",
            key: admin,
            json: #"{"sku":"STICKER-001","name":"Sticker pack","priceCents":300,"currency":"EUR","stock":100000}"#
        )
        #expect(created.status.code == 201, "\(created.bodyText)")

        let customer = try await schemathesis(system, key: alice)
        #expect(customer.status == 0, "\(customer.output.suffix(6000))")
        #expect(customer.output.contains(" passed"), "\(customer.output.suffix(2000))")
        // The operator's pass leaves fault injection alone: a generated rule that parses would make the
        // system fail on purpose.
        let operator_ = try await schemathesis(system, key: admin, exclude: ["POST /v1/admin/faults"])
        #expect(operator_.status == 0, "\(operator_.output.suffix(6000))")

        let links = try await offPool {
            try run(
                "/usr/bin/env",
                ["python3", "\(Self.repository)/Tests/OpenAPI/openapi_check.py", "links", system.gateway, alice, "STICKER-001"]
            )
        }
        #expect(links.contains("link GetOrder: GET /v1/orders/") && links.contains("0 failures"), "\(links)")
    }
}

/// The operators' console in a real headless Chromium (Debian's chromium and chromium-driver, driven by
/// Selenium from `Tests/Browser/console_check.py`): sign in, find the saga the test made on the list, open
/// its timeline and see every step, see the order it touched, retry a FAILED saga with a reason and see it
/// complete with the reason on its timeline, and see a product named
/// `<img src=x onerror=alert(1)>` as text with no script run. Screenshots: `.build/console-screenshots/`.
@Suite("The operators' console in a headless browser", .serialized)
struct ConsoleBrowserTests {
    @Test func signInFindTheSagaSeeItsTimelineRetryAFailedOneAndNoValueRunsAsScript() async throws {
        let system = try await SagaMartSystem(layout: .sqlite, overrides: ["payment": ["FAULT_INJECTION": "on"]])
        defer { system.stopAll() }
        let sku = uniqueSKU("CONSOLE")
        let name = "<img src=x onerror=alert(1)>"
        let created = try await system.call(
            "POST",
            "/v1/products",
            key: admin,
            json: #"{"sku":"\#(sku)","name":"\#(name)","priceCents":250,"currency":"EUR","stock":10}"#
        )
        #expect(created.status.code == 201, "\(created.bodyText)")
        let checkout = try await system.checkout(checkoutBody(sku: sku))
        #expect(checkout.status.code == 201, "\(checkout.bodyText)")
        let saga = try #require(checkout.object["checkoutId"] as? String)

        // A saga parked FAILED past its pivot (capture refused by an injected fault), for the operator's retry;
        // the fault is removed before the browser retries it.
        let faults = #"{"faults":"participant.before_commit@payment.capture:fail(409)"}"#
        #expect(try await system.call("POST", "/v1/admin/faults?service=payment", key: admin, json: faults).status.code == 200)
        let parked = try await system.checkout(checkoutBody(sku: sku))
        #expect(parked.status.code == 202, "\(parked.bodyText)")
        let failed = try #require(parked.object["checkoutId"] as? String)
        #expect(
            try await system.eventually {
                try await system.call("GET", "/v1/sagas/\(failed)", key: admin).object["status"] as? String == "FAILED"
            }
        )
        #expect(try await system.call("POST", "/v1/admin/faults?service=payment", key: admin, json: #"{"faults":""}"#).status.code == 200)

        // The list the console reads, newest first, and the counts by status.
        let newest = try await system.call("GET", "/v1/sagas?order=newest&limit=1", key: admin).object["items"] as? [[String: Any]]
        #expect(newest?.first?["id"] as? String == failed, "the newest saga first")
        let oldest = try await system.call("GET", "/v1/sagas?limit=1", key: admin).object["items"] as? [[String: Any]]
        #expect(oldest?.first?["id"] as? String == saga, "the oldest first by default")
        #expect(try await system.call("GET", "/v1/sagas?order=sideways", key: admin).status.code == 422)
        let counts = try await system.call("GET", "/v1/sagas/counts", key: admin).object
        #expect(counts["COMPLETED"] as? Int == 1 && counts["FAILED"] as? Int == 1 && counts["RUNNING"] as? Int == 0, "\(counts)")
        #expect(try await system.call("GET", "/v1/sagas/counts", key: alice).status.code == 403)

        let page = try await system.call("GET", "/console", key: nil)
        #expect(page.status.code == 200)
        #expect(page.headers["Content-Security-Policy"]?.contains("script-src 'self'") == true)

        let screenshots = "\(OpenAPILiveTests.repository)/.build/console-screenshots"
        let output = try await offPool {
            try run(
                "/usr/bin/env",
                [
                    "python3", "\(OpenAPILiveTests.repository)/Tests/Browser/console_check.py", "--gateway", system.gateway, "--key", admin,
                    "--saga", saga, "--sku", sku, "--name", name, "--screenshots", screenshots, "--failed-saga", failed,
                ]
            )
        }
        #expect(output.contains("0 failures"), "\(output)")
        #expect(FileManager.default.fileExists(atPath: screenshots + "/saga-timeline.png"))
    }
}
