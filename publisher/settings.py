"""Settings: config.yaml, then `PUBLISHER_<SECTION>_<KEY>` overrides, validated once.

The bundled `config.yaml` holds every default. `PUBLISHER_CONFIG` names a file read
over it (only the keys it sets change). Environment variables win over both. A bad
value stops the program at start with the key, the variable and the rule it broke.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from publisher.serving import is_loopback

ENV_PREFIX = "PUBLISHER_"
CONFIG_ENV = "PUBLISHER_CONFIG"

# Variables that share the prefix but are not config keys.
_NON_KEY_VARIABLES = frozenset({CONFIG_ENV})
_NON_KEY_PREFIXES = ("PUBLISHER_TEST_",)


class SettingsError(Exception):
    """The configuration cannot be used; the message names each bad key and rule."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = Field(min_length=1)
    pool_size: int = Field(ge=1, le=200)
    connect_timeout_seconds: float = Field(gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if scheme in ("postgres", "postgresql"):
            # psycopg 3 is the one PostgreSQL driver installed; name it for SQLAlchemy.
            return f"postgresql+psycopg://{rest}"
        if not sep or scheme not in ("sqlite", "postgresql+psycopg"):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value


class WorkerSettings(_Section):
    poll_interval_seconds: float = Field(gt=0, le=3600)
    concurrency: int = Field(ge=1, le=256)
    lease_seconds: int = Field(ge=5, le=3600)
    claim_batch: int = Field(ge=1, le=1000)
    container_recheck_seconds: float = Field(gt=0, le=600)
    container_recheck_max_seconds: float = Field(gt=0, le=3600)
    max_attempts: int = Field(ge=1, le=100)
    retry_base_seconds: float = Field(gt=0, le=3600)
    retry_max_seconds: float = Field(gt=0, le=86400)
    reconcile_window_seconds: float = Field(gt=0, le=86400)
    once_timeout_seconds: float = Field(gt=0, le=86400)
    max_lateness_seconds: float = Field(gt=0, le=366 * 86400)
    quota_reserve: int = Field(ge=0, le=1000)
    usage_defer_percent: float = Field(gt=0, le=100)
    shutdown_grace_seconds: float = Field(ge=0, le=3600)


class GraphSettings(_Section):
    base_url: AnyHttpUrl
    version: str = Field(pattern=r"^(v\d+\.\d+)?$")
    connect_timeout_seconds: float = Field(gt=0, le=120)
    read_timeout_seconds: float = Field(gt=0, le=600)


class MediaSettings(_Section):
    directory: Path
    base_url: AnyHttpUrl | None
    max_download_bytes: int = Field(ge=1024)
    fetch_timeout_seconds: float = Field(gt=0, le=600)


class SandboxSettings(_Section):
    mode: Literal["auto", "on", "off"]
    host: str
    graph_port: int = Field(ge=1, le=65535)
    media_port: int = Field(ge=1, le=65535)
    video_processing_seconds: float = Field(ge=0, le=3600)

    @field_validator("host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        if not is_loopback(value):
            raise ValueError("must be a loopback address: the sandbox is local only")
        return value


class LogSettings(_Section):
    format: Literal["auto", "json", "console"]
    level: Literal["debug", "info", "warning", "error"]


class HealthSettings(_Section):
    max_poll_age_seconds: float = Field(gt=0, le=86400)


class MetricsSettings(_Section):
    port: int | None = Field(ge=1, le=65535)
    host: str = Field(min_length=1)


class WebhookSettings(_Section):
    url: AnyHttpUrl | None
    secret: SecretStr | None
    timeout_seconds: float = Field(gt=0, le=120)
    max_attempts: int = Field(ge=1, le=1000)
    retry_max_seconds: float = Field(gt=0, le=86400)

    @model_validator(mode="after")
    def _secret_with_url(self) -> WebhookSettings:
        secret = self.secret.get_secret_value() if self.secret else ""
        if self.url is not None and not secret:
            raise ValueError(
                "config key webhooks.url is set, so PUBLISHER_WEBHOOKS_SECRET must "
                "hold the HMAC secret that signs each delivery"
            )
        return self


class CaptionSettings(_Section):
    base_url: AnyHttpUrl | None
    model: str | None = Field(min_length=1)
    api_key: SecretStr | None
    timeout_seconds: float = Field(gt=0, le=600)
    max_retries: int = Field(ge=0, le=10)
    max_photos: int = Field(ge=0, le=20)
    max_image_side: int = Field(ge=64, le=4096)

    @model_validator(mode="after")
    def _model_with_url(self) -> CaptionSettings:
        if self.base_url is not None and self.model is None:
            raise ValueError(
                "config key captions.base_url is set, so captions.model (or "
                "PUBLISHER_CAPTIONS_MODEL) must name the model to ask"
            )
        if self.model is not None and self.base_url is None:
            raise ValueError(
                "config key captions.model is set, so captions.base_url (or "
                "PUBLISHER_CAPTIONS_BASE_URL) must name its endpoint, e.g. "
                "https://api.openai.com/v1 (without both, the built-in writer answers)"
            )
        return self


class Settings(BaseSettings):
    """Every setting of publisher, frozen after validation."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        frozen=True,
    )

    database: DatabaseSettings
    worker: WorkerSettings
    graph: GraphSettings
    media: MediaSettings
    sandbox: SandboxSettings
    log: LogSettings
    health: HealthSettings
    metrics: MetricsSettings
    webhooks: WebhookSettings
    captions: CaptionSettings

    @property
    def sandbox_on(self) -> bool:
        """Whether the daemon runs its own simulator and media server."""
        mode = self.sandbox.mode
        return mode == "on" or (
            mode == "auto" and self.database.url.startswith("sqlite")
        )

    @property
    def graph_url(self) -> str:
        """Where Graph API calls go: the sandbox's simulator, or graph.base_url."""
        if self.sandbox_on:
            return f"http://{self.sandbox.host}:{self.sandbox.graph_port}"
        return str(self.graph.base_url).rstrip("/")

    @property
    def media_url(self) -> str:
        """The public base URL of media.directory; publishing cannot go without it."""
        if self.sandbox_on:
            return f"http://{self.sandbox.host}:{self.sandbox.media_port}"
        if self.media.base_url is None:
            raise SettingsError(
                "config key media.base_url (or PUBLISHER_MEDIA_BASE_URL) is required "
                "when the sandbox is off: Meta downloads each post's media from it"
            )
        return str(self.media.base_url).rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the files, which arrive as init values.
        return (env_settings, init_settings)


def load_settings() -> Settings:
    """Read the defaults, the file `PUBLISHER_CONFIG` names, and the environment."""
    _refuse_unknown_variables(os.environ)
    values = _read_yaml(_defaults_text(), "the bundled config.yaml")
    path = os.environ.get(CONFIG_ENV)
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"{CONFIG_ENV}={path}: cannot read it ({exc})") from exc
        given = _read_yaml(text, path)
        _refuse_file_secret(given, path)
        _merge(values, given)
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


_SECRET_KEYS = (("webhooks", "secret"), ("captions", "api_key"))


def _refuse_file_secret(given: dict[str, Any], origin: str) -> None:
    """Configuration files get copied, committed and read by many; the webhook
    secret and the model's API key live only in the environment (a systemd
    credential, a secret store)."""
    for section_name, key in _SECRET_KEYS:
        section = given.get(section_name)
        if isinstance(section, dict) and section.get(key) is not None:
            variable = f"{ENV_PREFIX}{section_name}_{key}".upper()
            raise SettingsError(
                f"{origin}: config key {section_name}.{key} must not be in a file; "
                f"set {variable} in the environment instead"
            )


def _defaults_text() -> str:
    return resources.files("publisher").joinpath("config.yaml").read_text("utf-8")


def _read_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{origin}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{origin}: must be a mapping of sections")
    return data


def _merge(base: dict[str, Any], override: dict[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _known_variables() -> set[str]:
    names = set()
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        for key in model.model_fields:
            names.add(f"{ENV_PREFIX}{section}_{key}".upper())
    return names


def _refuse_unknown_variables(env: Mapping[str, str]) -> None:
    known = _known_variables()
    unknown = sorted(
        name
        for name in env
        if name.startswith(ENV_PREFIX)
        and name not in known
        and name not in _NON_KEY_VARIABLES
        and not name.startswith(_NON_KEY_PREFIXES)
    )
    if unknown:
        raise SettingsError(
            f"unknown setting variable {', '.join(unknown)}: "
            f"the known ones are {', '.join(sorted(known))}"
        )


def _without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def _describe(exc: ValidationError) -> str:
    lines = [_describe_one(error) for error in exc.errors()]
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _describe_one(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if not key or (error["type"] == "value_error" and key in Settings.model_fields):
        # A rule across keys (of a section, or of the whole); its message names them.
        return str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        section = key.rpartition(".")[0]
        known = _keys_of(section)
        where = f"section {section}" if section else "the top level"
        return (
            f"config key {key}: no such key in {where} of the configuration file "
            f"(known: {', '.join(known)})"
        )
    variable = ENV_PREFIX + key.replace(".", "_").upper()
    given = error.get("input")
    if isinstance(given, str) and "://" in given:
        given = _without_password(given)
    shown = "" if isinstance(given, dict) else f" (got {given!r})"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"config key {key} (or {variable}): {message}{shown}"


def _keys_of(section: str) -> list[str]:
    if not section:
        return list(Settings.model_fields)
    model = Settings.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return list(model.model_fields)
