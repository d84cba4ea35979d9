"""The model: an OpenAI-compatible chat-completions endpoint that takes images.

The `openai` client does the HTTP work; tenacity tries again after a timeout, a
dropped connection, a 408/409/429 or a 5xx, with exponential backoff (or the
server's Retry-After, when longer). Each try gets `timeout_seconds` for the whole
answer, however slowly it arrives. Whatever still fails is a `ModelFailed`
naming the rule (timeout, unreachable, refused key, error answer, an answer not
understood, an empty one) in words an operator can act on. The API key is sent
only in the Authorization header, never logged, and masked should a server echo
it into an error.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from publisher.captions.fit import tidy
from publisher.settings import CaptionSettings

if TYPE_CHECKING:
    import openai

# The client logs each request and retry through the standard library; its own
# events would repeat ours, and a debug line must never carry a header.
for _name in ("openai", "httpx", "httpx2", "httpcore", "httpcore2"):
    logging.getLogger(_name).setLevel(logging.WARNING)

log = structlog.get_logger(__name__)

# Local servers check no key, but the client refuses to start without one.
_NO_KEY = "no-key"
# The statuses below 500 that the client sends again (as its documentation says).
_RETRIED = frozenset({408, 409, 429})


class ModelFailed(Exception):
    """The model gave no usable caption; `rule` is a stable name of why."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class Answer:
    """The caption the model wrote (tidied, not yet fitted) and its model's name."""

    text: str
    model: str
    # The model stopped at its length limit: the caption may end mid-sentence.
    cut_off: bool = False


def ask_model(settings: CaptionSettings, messages: list[Any]) -> Answer:
    """Send the messages and return the caption in the answer."""
    # Imported here: the client takes most of a second to import, which every
    # `publisher` command (a health check, say) would pay otherwise.
    import openai

    assert settings.base_url is not None and settings.model is not None
    where = _where(str(settings.base_url))
    key = settings.api_key.get_secret_value() if settings.api_key else ""
    retrying = Retrying(
        stop=stop_after_attempt(settings.max_retries + 1),
        wait=_wait,
        retry=retry_if_exception(_worth_another_try),
        before_sleep=_log_retry,
        reraise=True,
    )
    try:
        response = retrying(_one_try, settings, key, messages)
    except (openai.APITimeoutError, _TryTimedOut):
        raise ModelFailed(
            "model_timeout",
            f"the model at {where} did not answer within "
            f"{settings.timeout_seconds:g} s ({_tries(retrying)}); a slow model "
            "needs a longer captions.timeout_seconds, a busy one a later try",
        ) from None
    except openai.APIConnectionError as exc:
        raise ModelFailed(
            "model_unreachable",
            f"cannot reach the model at {where} ({_tries(retrying)}): "
            f"{_hidden(str(exc), key)}",
        ) from None
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise ModelFailed(
            "model_key",
            f"the model at {where} refused the API key ({exc.status_code}); "
            "check PUBLISHER_CAPTIONS_API_KEY",
        ) from None
    except openai.APIStatusError as exc:
        raise ModelFailed(
            "model_error", _status_message(exc, where, _tries(retrying), key)
        ) from None
    except (openai.APIError, ValueError) as exc:
        # ValueError: a 200 whose body claims JSON but is not.
        raise _not_understood(where, exc.__class__.__name__) from None
    content, finish = _content(response)
    if not isinstance(content, str):
        raise _not_understood(where, "no chat completion message in it")
    text = tidy(content)
    if not text:
        raise ModelFailed(
            "model_empty", f"the model at {where} answered without a caption"
        )
    model = getattr(response, "model", None)
    return Answer(
        text,
        model if isinstance(model, str) and model else settings.model,
        cut_off=finish == "length",
    )


class _TryTimedOut(Exception):
    """One try took longer than timeout_seconds, however its bytes trickled in."""


def _one_try(settings: CaptionSettings, key: str, messages: list[Any]) -> object:
    """One request, given `timeout_seconds` for the whole answer: the client's own
    timeout bounds each read, which an answer trickled out a few bytes at a time
    never trips. The client does no retries of its own; `ask_model` does."""
    import openai

    client = openai.OpenAI(
        base_url=str(settings.base_url),
        api_key=key or _NO_KEY,
        timeout=settings.timeout_seconds,
        max_retries=0,
    )
    pool = ThreadPoolExecutor(1, thread_name_prefix="caption-model")
    try:
        model = settings.model
        assert model is not None
        asked = pool.submit(
            lambda: client.chat.completions.create(model=model, messages=messages)
        )
        # Typed as what may come back: behind a wrong base_url (a web page, a
        # proxy) the client hands over whatever text was answered with a 200.
        answer: object = asked.result(timeout=settings.timeout_seconds)
        return answer
    except FutureTimeout:
        raise _TryTimedOut from None
    finally:
        # An abandoned request stops at its next read, when its connection closes.
        client.close()
        pool.shutdown(wait=False)


def _worth_another_try(exc: BaseException) -> bool:
    """A timeout, a dropped connection, a 408, 409, 429 or any 5xx."""
    import openai

    if isinstance(exc, _TryTimedOut | openai.APIConnectionError):
        return True
    return isinstance(exc, openai.APIStatusError) and (
        exc.status_code in _RETRIED or exc.status_code >= 500
    )


_BACKOFF = wait_exponential_jitter(multiplier=0.5, max=8.0, jitter=0.5)
# The longest Retry-After honoured; a person is waiting for the caption.
_MAX_RETRY_AFTER = 20.0


def _wait(state: RetryCallState) -> float:
    """Exponential backoff with jitter, or the server's Retry-After when longer."""
    backoff: float = _BACKOFF(state)
    exc = state.outcome.exception() if state.outcome else None
    response = getattr(exc, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    try:
        later = float(header) if header else 0.0
    except ValueError:
        later = 0.0  # an HTTP date: the backoff will do
    return max(backoff, min(later, _MAX_RETRY_AFTER))


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning(
        "caption_model_retrying",
        attempt=state.attempt_number,
        reason=exc.__class__.__name__,
        status=getattr(exc, "status_code", None),
        wait_seconds=round(state.upcoming_sleep, 2),
    )


def _tries(retrying: Retrying) -> str:
    tries = int(retrying.statistics.get("attempt_number", 1))
    return "1 try" if tries == 1 else f"{tries} tries"


def _status_message(
    exc: openai.APIStatusError, where: str, tried: str, key: str
) -> str:
    """What an error answer says, how often it was tried and, for a 404 or 405,
    where to look."""
    status = exc.status_code
    message = f"the model at {where} answered {status} ({tried}): "
    message += _hidden(_detail(exc), key)
    if status in (404, 405):
        message += (
            "; check captions.base_url: it names the API's root, which usually "
            "ends in /v1 (chat/completions is added to it)"
        )
    return message


def _hidden(text: str, key: str) -> str:
    """The text without the API key, should a server or proxy echo it back."""
    return text.replace(key, "***") if len(key) >= 4 else text


def _content(response: object) -> tuple[object, object]:
    """The first choice's message text as answered (None, or not even text, when
    the answer is not a chat completion) and why the model stopped."""
    from openai.types.chat import ChatCompletion  # loaded by ask_model already

    if not isinstance(response, ChatCompletion) or not response.choices:
        return None, None
    choice = response.choices[0]
    message = getattr(choice, "message", None)
    content = getattr(message, "content", None)
    # An answer with choices but no text at all is an empty caption.
    text = "" if content is None and message is not None else content
    return text, getattr(choice, "finish_reason", None)


def _not_understood(where: str, why: str) -> ModelFailed:
    return ModelFailed(
        "model_answer", f"the model at {where} sent an answer not understood ({why})"
    )


def _where(url: str) -> str:
    """The host and port the messages name: never a user or password that the
    base URL may carry (`https://user:secret@proxy/v1`)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port}" if parts.port else host


def _detail(exc: openai.APIStatusError) -> str:
    """The server's own message, short (a proxy may answer with a whole page)."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if message:
            return str(message)[:200]
    return exc.message[:200]
