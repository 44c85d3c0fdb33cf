import AuditorCore
import Contracts
import Foundation
import HTTP
import Messaging
import ServiceKit
import Storage
import TestSupport
import Testing

@testable import Gateway

/// The OpenAPI document (`Deploy/openapi/gateway.yaml`) and the code cannot drift: the document validates
/// and the gateway's copy is current, values encoded from the Swift contract types match its schemas, its
/// enums are the Swift cases, and the gateway refuses to start when its routes and the document's
/// operations differ. (`SchemathesisTests` checks the live API against it.)
@Suite("The OpenAPI document and the contract types")
struct OpenAPIContractTests {
    static let repository = FileManager.default.currentDirectoryPath

    @Test func theDocumentValidatesAndTheGatewayServesItsCurrentCopy() async throws {
        let output = try await offPool { try run("/usr/bin/env", ["python3", "\(Self.repository)/scripts/openapi.py", "--check"]) }
        #expect(output.contains("OpenAPI documents are valid and the services' copies are current"), "\(output)")
    }

    @Test func valuesOfTheContractTypesMatchTheirSchemasAndTheEnumsAreTheSwiftCases() async throws {
        var values: [String: [JSONValue]] = [:]
        func add<T: Encodable>(_ schema: String, _ value: T) throws {
            values[schema, default: []].append(try JSONValue(encoding: value))
        }
        let step = SagaAPI.Step(
            name: "payment.authorize",
            action: .action,
            status: .failed,
            attempts: 3,
            startedAt: "2026-12-01T00:00:00.000Z",
            finishedAt: nil,
            error: "payment answered 503",
            note: "operator ops: retried"
        )
        let saga = SagaAPI.Checkout(
            id: "s1",
            customerId: "alice",
            orderId: "o1",
            paymentId: "p1",
            shipmentId: "sh1",
            status: .compensated,
            failureCode: .outOfStock,
            failureDetail: "SKU-1: 0 left",
            totalCents: 2400,
            currency: "EUR",
            version: 3,
            stuck: false,
            steps: [step]
        )
        let bare = SagaAPI.Checkout(
            id: "s2",
            kind: nil,
            customerId: "alice",
            orderId: "o2",
            paymentId: "p2",
            shipmentId: "sh2",
            status: .running,
            failureCode: nil,
            failureDetail: nil,
            totalCents: nil,
            currency: nil,
            steps: []
        )
        try add("Saga", saga)
        try add("Saga", bare)
        try add("SagaPage", Page(items: [saga, bare], next: "s3"))
        try add("SagaPage", Page<SagaAPI.Checkout>(items: [], next: nil))
        try add("Step", step)
        try add("SagaCounts", Dictionary(uniqueKeysWithValues: SagaStatus.allCases.map { ($0.rawValue, 3) }))
        try add("CheckoutView", GatewayAPI.CheckoutView(id: "c", orderId: "o", status: .completed, failureCode: nil, steps: [step]))
        try add(
            "CheckoutView",
            GatewayAPI.CheckoutView(id: "c", orderId: "o", status: .compensated, failureCode: "participant_code", steps: [])
        )
        try add(
            "CheckoutCompleted",
            GatewayAPI.CheckoutCompleted(orderId: "o", checkoutId: "c", totalCents: 500, currency: "EUR", paymentId: "p", shipmentId: "s")
        )
        for status in SagaStatus.allCases { try add("CheckoutAccepted", GatewayAPI.CheckoutAccepted(checkoutId: "c", status: status)) }
        try add("CancellationAccepted", GatewayAPI.CancellationAccepted(orderId: "o", cancellationId: "x", status: .running))
        let line = OrderAPI.Line(sku: "SKU-1", quantity: 2, unitPriceCents: 1200)
        let order = OrderAPI.Order(
            id: "o1",
            customerId: "alice",
            checkoutId: "c1",
            status: .shipped,
            reason: nil,
            items: [line],
            totalCents: 2400,
            currency: "EUR",
            payment: OrderAPI.Ref(id: "p1", status: "CAPTURED"),
            shipment: nil,
            version: 4,
            createdAt: "2026-12-01T00:00:00.000Z",
            updatedAt: "2026-12-01T00:00:01.000Z"
        )
        try add("Order", order)
        try add("OrderPage", Page(items: [order], next: nil))
        try add(
            "OrderView",
            GatewayAPI.OrderView(
                id: "o1",
                customerId: "alice",
                status: .approved,
                reason: nil,
                items: [line],
                totalCents: 2400,
                currency: "EUR",
                payment: GatewayAPI.Ref(id: "p1", status: .captured),
                shipment: GatewayAPI.Ref(id: "s1", status: nil),
                checkout: GatewayAPI.Ref(id: "c1", status: .completed),
                createdAt: "2026-12-01T00:00:00.000Z"
            )
        )
        try add(
            "OrderView",
            GatewayAPI.OrderView(
                id: "o2",
                customerId: "bob",
                status: .rejected,
                reason: "out_of_stock",
                items: [],
                totalCents: 0,
                currency: "EUR",
                payment: nil,
                shipment: nil,
                checkout: GatewayAPI.Ref(id: "c2", status: nil),
                createdAt: "2026-12-01T00:00:00.000Z"
            )
        )
        try add("Shipment", ShippingAPI.Shipment(id: "s1", orderId: "o1", status: .dispatched, country: "DE"))
        let product = InventoryAPI.Product(
            sku: "SKU-1",
            name: "<img src=x onerror=alert(1)>",
            priceCents: 250,
            currency: "EUR",
            available: 3
        )
        try add("Product", product)
        try add("ProductPage", Page(items: [product], next: "SKU-1"))
        try add("CreateProduct", InventoryAPI.CreateProduct(sku: "SKU-1", name: "Mug", priceCents: 1200, currency: "EUR", stock: 5))
        try add("SetStock", InventoryAPI.SetStock(available: 0))
        try add(
            "CheckoutRequest",
            GatewayAPI.Checkout(
                items: [Item(sku: "SKU-1", quantity: 1)],
                payment: PaymentAPI.Card(cardNumber: "4242424242424242", expMonth: 12, expYear: 2030, cvc: "123"),
                shipping: ShippingAPI.Address(name: "Ada", line1: "1 Loop", city: "Berlin", postalCode: "10115", country: "DE")
            )
        )
        try add("Problem", HTTPError.validation("items must hold 1 to 100 lines").problem)
        try add(
            "Problem",
            HTTPError(.conflict, code: "out_of_stock", detail: "none left", extra: ["orderId": "o1", "checkoutId": "c1"]).problem
        )
        try add("Health", GatewayAPI.Health(status: "ok"))
        try add("Health", Readiness(status: "unavailable", checks: "database=failing,migrations=ok"))
        let entry =
            #"{"seq":1,"at":"t","actor":"admin","action":"product.create","target":"SKU-1","traceId":"a","requestId":"b","prevHash":"0","hash":"1"}"#
        try add(
            "AuditLogPage",
            try JSONDecoder().decode(AuditLogPage.self, from: Data(#"{"items":[\#(entry)],"next":1,"head":{"seq":1,"hash":"1"}}"#.utf8))
        )
        try add("AuditLogPage", try JSONDecoder().decode(AuditLogPage.self, from: Data(#"{"items":[]}"#.utf8)))
        try add(
            "ConsumerStatus",
            try JSONDecoder().decode(FeedConsumer.Status.self, from: Data(#"{"consumer":"c","seq":4,"consumed":4,"deadLetters":0}"#.utf8))
        )
        try add(
            "DeadLetter",
            try JSONDecoder().decode(FeedConsumer.DeadLetter.self, from: Data(#"{"id":"d","seq":2,"error":"e","failedAt":"t"}"#.utf8))
        )
        try add(
            "ConsistencyReport",
            ConsistencyReport(
                generatedAt: "t",
                violations: [Violation(.stockNotConserved, ids: ["sku": "SKU-1"], detail: "more sold than received")],
                failedSagas: ["s1"],
                feeds: [
                    FeedLag(
                        consumer: "c",
                        feed: "inventory",
                        service: "gateway",
                        head: 5,
                        cursor: 3,
                        oldestUnconsumedSeconds: 2,
                        deadLetters: 0
                    )
                ],
                totals: ConsistencyReport.Totals(),
                durationMs: 12
            )
        )

        // Values that must not match, so the check is seen to fail: a status no enum has, a missing member.
        let wrongStatus = try JSONValue(encoding: GatewayAPI.CheckoutAccepted(checkoutId: "c", status: .running)).replacing(
            "status",
            with: .string("DONE")
        )
        let invalid: [String: [JSONValue]] = [
            "CheckoutAccepted": [wrongStatus],
            "OrderView": [try JSONValue(encoding: ["id": "o1"])],
        ]
        let enums = Self.enums.filter { $0.key != "ReservationStatus" }
        let output = try await Self.check(values: values, invalid: invalid, enums: enums)
        #expect(output.contains("0 failures"), "\(output)")
    }

    /// The Swift enums' cases, for the documents' enums.
    static let enums: [String: [String]] = [
        "SagaStatus": SagaStatus.allCases.map(\.rawValue),
        "SagaKind": SagaKind.allCases.map(\.rawValue),
        "StepStatus": StepStatus.allCases.map(\.rawValue),
        "StepAction": StepAction.allCases.map(\.rawValue),
        "OrderStatus": OrderStatus.allCases.map(\.rawValue),
        "PaymentStatus": PaymentStatus.allCases.map(\.rawValue),
        "ShipmentStatus": ShipmentStatus.allCases.map(\.rawValue),
        "ReservationStatus": ReservationStatus.allCases.map(\.rawValue),
    ]

    /// Runs `openapi_check.py values` on the values against `document` (the gateway's by default); its output.
    static func check(
        values: [String: [JSONValue]],
        invalid: [String: [JSONValue]] = [:],
        enums: [String: [String]],
        document: String? = nil
    ) async throws -> String {
        struct Checks: Encodable {
            let values: [String: [JSONValue]]
            let invalid: [String: [JSONValue]]
            let enums: [String: [String]]
            let enumsIfPresent: Bool
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("openapi-values-\(UUID().uuidString).json")
        try JSONEncoder().encode(Checks(values: values, invalid: invalid, enums: enums, enumsIfPresent: document != nil)).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let arguments =
            ["python3", "\(repository)/Tests/OpenAPI/openapi_check.py", "values", file.path]
            + (document.map { ["\(repository)/\($0)"] } ?? [])
        return try await offPool { try run("/usr/bin/env", arguments) }
    }

    @Test func valuesOfTheContractTypesMatchTheInternalDocuments() async throws {
        func encoded<T: Encodable>(_ values: T...) throws -> [JSONValue] { try values.map { try JSONValue(encoding: $0) } }
        let items = [Item(sku: "SKU-1", quantity: 2)]
        let address = ShippingAPI.Address(name: "Ada", line1: "1 Loop", city: "Berlin", postalCode: "10115", country: "DE")
        let step = SagaAPI.Step(
            name: "order.create",
            action: .action,
            status: .succeeded,
            attempts: 1,
            startedAt: "t",
            finishedAt: "t",
            error: nil
        )
        let documents: [(String, [String: [JSONValue]])] = [
            (
                "Services/Inventory/Resources/openapi.json",
                [
                    "Reservation": try encoded(
                        InventoryAPI.Reservation(reservationId: "r", status: .reserved, items: items, expiresAt: "t"),
                        InventoryAPI.Reservation(reservationId: "r", status: .restocked, items: [])
                    ),
                    "Reserve": try encoded(InventoryAPI.Reserve(reservationId: "r", items: items, holdUntilCommit: true)),
                    "Product": try encoded(InventoryAPI.Product(sku: "S", name: "N", priceCents: 1, currency: "EUR", available: 0)),
                    "CreateProduct": try encoded(InventoryAPI.CreateProduct(sku: "S", name: "N", priceCents: 1, currency: "EUR", stock: 1)),
                ]
            ),
            (
                "Services/Payment/Resources/openapi.json",
                [
                    "Payment": try encoded(
                        PaymentAPI.Payment(
                            id: "p",
                            orderId: "o",
                            status: .captured,
                            amountCents: 100,
                            currency: "EUR",
                            brand: "visa",
                            last4: "4242"
                        )
                    ),
                    "PaymentMethod": try encoded(
                        PaymentAPI.PaymentMethod(token: "t", brand: "visa", last4: "4242", expMonth: 1, expYear: 2030)
                    ),
                    "Authorize": try encoded(
                        PaymentAPI.Authorize(paymentId: "p", orderId: "o", token: "t", amountCents: 1, currency: "EUR")
                    ),
                    "Card": try encoded(PaymentAPI.Card(cardNumber: "4242424242424242", expMonth: 1, expYear: 2030, cvc: "123")),
                ]
            ),
            (
                "Services/Shipping/Resources/openapi.json",
                [
                    "Shipment": try encoded(ShippingAPI.Shipment(id: "s", orderId: "o", status: .scheduled, country: "DE")),
                    "Schedule": try encoded(ShippingAPI.Schedule(shipmentId: "s", orderId: "o", address: address)),
                ]
            ),
            (
                "Services/Order/App/Resources/openapi.json",
                [
                    "Order": try encoded(
                        OrderAPI.Order(
                            id: "o",
                            customerId: "c",
                            checkoutId: "k",
                            status: .pending,
                            reason: nil,
                            items: [OrderAPI.Line(sku: "S", quantity: 1, unitPriceCents: 5)],
                            totalCents: 5,
                            currency: "EUR",
                            payment: OrderAPI.Ref(id: "p", status: "AUTHORIZED"),
                            createdAt: "t"
                        )
                    ),
                    "CreateOrder": try encoded(OrderAPI.Create(orderId: "o", customerId: "c", checkoutId: "k", items: items, screen: true)),
                ]
            ),
            (
                "Services/Saga/App/Resources/openapi.json",
                [
                    "Saga": try encoded(
                        SagaAPI.Checkout(
                            id: "s",
                            kind: .cancellation,
                            customerId: "c",
                            orderId: "o",
                            paymentId: "p",
                            shipmentId: "h",
                            status: .completed,
                            failureCode: nil,
                            failureDetail: nil,
                            totalCents: nil,
                            currency: nil,
                            version: 1,
                            steps: [step]
                        )
                    ),
                    "StartCheckout": try encoded(
                        SagaAPI.StartCheckout(checkoutId: "k", customerId: "c", items: items, paymentToken: "t", shipping: address)
                    ),
                ]
            ),
        ]
        for (document, values) in documents {
            let output = try await Self.check(values: values, enums: Self.enums, document: document)
            #expect(output.contains("0 failures"), "\(document): \(output)")
        }
    }

    @Test func theFailureCodesOwnTheirStatuses() {
        #expect(FailureCode.paymentDeclined.httpStatus == 402)
        #expect(FailureCode.outOfStock.httpStatus == 409)
        for code in [FailureCode.undeliverable, .unknownSKU, .mixedCurrencies, .fraudSuspected] { #expect(code.httpStatus == 422) }
        #expect(FailureCode.serviceUnavailable.httpStatus == 503)
        #expect(FailureCode(rawValue: "a_participants_own").httpStatus == 409)
    }

    @Test func theGatewayMountsExactlyTheDocumentsOperations() throws {
        let document = try GatewayService.openAPI()
        #expect(document.operations.contains("POST /v1/checkout"))
        #expect(document.operations.contains("GET /v1/orders/{id}"))
        try document.check(mounted: Array(document.operations))
        // A route the document lacks, and an operation no route serves, each stop the start with its name.
        let extra = #expect(throws: OpenAPIDocument.Invalid.self) {
            try document.check(mounted: Array(document.operations) + ["GET /v1/secret"])
        }
        #expect(extra?.description.contains("mounted but not in the document: GET /v1/secret") == true)
        let missing = #expect(throws: OpenAPIDocument.Invalid.self) {
            try document.check(mounted: Array(document.operations.subtracting(["POST /v1/checkout"])))
        }
        #expect(missing?.description.contains("in the document but not mounted: POST /v1/checkout") == true)
    }
}

/// Any JSON value, for writing the encoded contract values into one file for the schema check.
enum JSONValue: Codable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init<T: Encodable>(encoding value: T) throws {
        self = try JSONDecoder().decode(JSONValue.self, from: try JSONEncoder().encode(value))
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if value == value.rounded() && abs(value) < 1e15 { try container.encode(Int64(value)) } else { try container.encode(value) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    func replacing(_ key: String, with value: JSONValue) -> JSONValue {
        guard case .object(var members) = self else { return self }
        members[key] = value
        return .object(members)
    }
}
