"""Message shapes of docs/design.md: Transaction v1 in, Score / Alert / DLQ records out."""

from lepton_stream.schemas.outputs import Alert, DlqRecord, Score
from lepton_stream.schemas.transaction import InvalidEvent, Transaction, parse_transaction

__all__ = ["Alert", "DlqRecord", "InvalidEvent", "Score", "Transaction", "parse_transaction"]
