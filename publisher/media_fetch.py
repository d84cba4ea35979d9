"""Download a creative: bounded in size and time, retried when the fault passes.

The creative's server is the brand's (or its CDN's), not Meta's: a slow, failing or
oversized answer must end as a clear CreativeUnavailable the pipeline can retry or
fail on, never as a hang or a stack trace. Split from media.py, which turns the bytes
into a file Instagram accepts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import requests
import structlog
import urllib3
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

log = structlog.get_logger(__name__)

MIB = 1024 * 1024
_CHUNK_BYTES = 64 * 1024
# Besides every 5xx: a request timeout and rate limiting clear up on their own.
_TRANSIENT_STATUSES = frozenset({408, 429})


class CreativeUnavailable(Exception):
    """The creative could not be downloaded; `transient`: a later try may succeed,
    `retry_now`: within this attempt (else only on a later one)."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        transient: bool,
        status: int | None = None,
        retry_now: bool = True,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.transient = transient
        self.status = status
        self.retry_now = retry_now


@dataclass(frozen=True)
class FetchRetry:
    """How often and how patiently a transient download failure is retried."""

    attempts: int = 3
    # Seconds before the first retry, doubling for each one after, up to max_wait,
    # plus up to `jitter` seconds at random so workers do not retry in step.
    first_wait: float = 0.5
    max_wait: float = 8.0
    jitter: float = 0.5


DEFAULT_FETCH_RETRY = FetchRetry()


@dataclass(frozen=True)
class Fetched:
    """A downloaded creative and the media type its server declared, if any."""

    data: bytes = field(repr=False)
    content_type: str | None


def fetch_creative(
    url: str,
    *,
    session: requests.Session,
    timeout: tuple[float, float],
    max_bytes: int,
    retry: FetchRetry = DEFAULT_FETCH_RETRY,
) -> Fetched:
    """Download a creative, retrying connection failures, timeouts and 5xx answers.

    Raises CreativeUnavailable on a non-retryable answer, when the body would exceed
    `max_bytes` (refused as soon as that is known, not after reading it all), or when
    the retries are exhausted, in which case `transient` is True.
    """
    shown = _shown_url(url)
    retrying = Retrying(
        stop=stop_after_attempt(retry.attempts),
        wait=wait_exponential_jitter(
            multiplier=retry.first_wait, max=retry.max_wait, jitter=retry.jitter
        ),
        retry=retry_if_exception(
            lambda exc: (
                isinstance(exc, CreativeUnavailable) and exc.transient and exc.retry_now
            )
        ),
        before_sleep=_log_retry,
        reraise=True,
    )
    fetched = retrying(
        _download_once,
        url,
        shown,
        session=session,
        timeout=timeout,
        max_bytes=max_bytes,
    )
    log.info(
        "creative_fetched",
        url=shown,
        bytes=len(fetched.data),
        content_type=fetched.content_type,
        attempts=retrying.statistics.get("attempt_number", 1),
    )
    return fetched


# How many read timeouts a whole download may take.
_WHOLE_DOWNLOAD_READS = 3


def _download_once(
    url: str,
    shown: str,
    *,
    session: requests.Session,
    timeout: tuple[float, float],
    max_bytes: int,
) -> Fetched:
    prefix = f"The creative could not be downloaded from {shown}"
    try:
        with session.get(url, stream=True, timeout=timeout) as response:
            status = response.status_code
            if not 200 <= status < 300:
                transient = status >= 500 or status in _TRANSIENT_STATUSES
                raise CreativeUnavailable(
                    f"{prefix}: HTTP {status}",
                    url=shown,
                    transient=transient,
                    status=status,
                )

            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(shown, max_bytes)

            chunks: list[bytes] = []
            received = 0
            # A server trickling bytes never trips the per-read timeout, so the
            # whole download gets a budget too: room for a large video, not forever.
            deadline = time.monotonic() + _WHOLE_DOWNLOAD_READS * timeout[1]
            # read1 returns what one socket read brings; iter_content would wait
            # for a whole chunk and never look at the clock.
            while chunk := response.raw.read1(_CHUNK_BYTES, decode_content=True):
                received += len(chunk)
                if received > max_bytes:
                    raise _too_large(shown, max_bytes)
                if time.monotonic() > deadline:
                    # Retried on a later attempt, not at once: it just took long.
                    raise CreativeUnavailable(
                        f"{prefix}: the download took too long",
                        url=shown,
                        transient=True,
                        retry_now=False,
                    )
                chunks.append(chunk)

            content_type = response.headers.get("Content-Type", "")
    # ConnectTimeout is a Timeout and a ConnectionError; it reads best as a timeout.
    # read1 reads from urllib3 directly, so its errors arrive unwrapped.
    except (requests.Timeout, urllib3.exceptions.ReadTimeoutError) as exc:
        raise CreativeUnavailable(
            f"{prefix}: the server did not answer in time", url=shown, transient=True
        ) from exc
    except (
        requests.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
        urllib3.exceptions.ProtocolError,
        urllib3.exceptions.DecodeError,
    ) as exc:
        raise CreativeUnavailable(
            f"{prefix}: the connection failed", url=shown, transient=True
        ) from exc
    except requests.RequestException as exc:
        raise CreativeUnavailable(
            f"{prefix}: the address cannot be fetched", url=shown, transient=False
        ) from exc

    media_type = content_type.split(";", 1)[0].strip().lower()
    return Fetched(data=b"".join(chunks), content_type=media_type or None)


def _too_large(shown: str, max_bytes: int) -> CreativeUnavailable:
    return CreativeUnavailable(
        f"The creative at {shown} is larger than {_size_text(max_bytes)}, the most "
        "the publisher downloads.",
        url=shown,
        transient=False,
    )


def _size_text(size: int) -> str:
    return f"{size / MIB:.1f} MiB" if size >= MIB else f"{size:,} bytes"


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, CreativeUnavailable):
        log.info(
            "creative_fetch_retrying",
            url=exc.url,
            attempt=state.attempt_number,
            status=exc.status,
            reason=exc.message,
            wait_seconds=round(state.next_action.sleep, 3) if state.next_action else 0,
        )


def _shown_url(url: str) -> str:
    """The URL without credentials, query or fragment: signed URLs carry secrets."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
