"""The one error a notifier raises, and how the dispatcher reads it.

UptrackError                    (uptrack.errors)
└── NotifyError                 a delivery attempt failed
      permanent=True            retrying the same message cannot help (bad URL,
                                revoked token, 4xx): mark the outbox row dead
      permanent=False           try again later (5xx, 408/429, timeout, connection
                                refused); `retry_after` is the receiver's own hint

Channels raise it; only the outbox dispatcher catches it. Its message is safe to
store and log: it never contains a secret setting.
"""

from __future__ import annotations

from uptrack.errors import UptrackError


class NotifyError(UptrackError):
    """A delivery attempt failed; `permanent` says whether a retry can succeed."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after  # seconds the receiver asked us to wait
        self.status = status  # HTTP status or SMTP reply code, when there was one

    def __repr__(self) -> str:
        return (
            f"NotifyError({self.message!r}, permanent={self.permanent}, "
            f"retry_after={self.retry_after}, status={self.status})"
        )
