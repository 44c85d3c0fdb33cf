import Contracts
import Storage

// The contracts' statuses go into and come out of database columns as their wire values.
extension SagaStatus: DatabaseValueConvertible {}
extension OrderStatus: DatabaseValueConvertible {}
extension PaymentStatus: DatabaseValueConvertible {}
extension ShipmentStatus: DatabaseValueConvertible {}
extension ReservationStatus: DatabaseValueConvertible {}
extension FailureCode: DatabaseValueConvertible {}
