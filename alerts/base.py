"""The `Notifier` contract every outbound channel implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from core.domain import Delivery


class DeliveryError(Exception):
    """A delivery that did not go through; it stays in the outbox for a later attempt."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.permanent = permanent


class Notifier(ABC):
    """Deliver outbox rows of one kind; never raises anything but `DeliveryError` into the pipeline."""

    #: The outbox `kind` this notifier delivers ("slack", "reply").
    kind: ClassVar[str]

    @abstractmethod
    def send(self, delivery: Delivery) -> dict[str, Any]:
        """Deliver one message and return what the far side said (ids, timestamps)."""

    def find_sent(self, delivery: Delivery) -> dict[str, Any] | None:
        """Look for a delivery whose outcome is unknown (a crash mid-send); None if it never arrived."""
        return None

    def redacted(self) -> dict[str, Any]:
        """Describe the notifier for logs, with nothing secret in it."""
        return {"kind": self.kind}
