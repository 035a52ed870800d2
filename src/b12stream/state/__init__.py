"""The embedded patient-state store (SQLite) and its changelog."""

from b12stream.state.store import PartitionedStore, SqlitePatientStore
from b12stream.state.transaction import StoreTransaction, TransactionStatus

__all__ = ["PartitionedStore", "SqlitePatientStore", "StoreTransaction", "TransactionStatus"]
