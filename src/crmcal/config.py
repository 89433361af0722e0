"""Configuration: a documented TOML file plus environment overrides (pydantic-settings).

Where it comes from, highest first:
1. environment variables `CRMCAL_<SECTION>__<KEY>` (e.g. `CRMCAL_GRAPH__CLIENT_SECRET`,
   `CRMCAL_ORG__WINDOW_FUTURE_DAYS`), `__` separating nesting levels;
2. the TOML file named by `--config`, or `CRMCAL_CONFIG`, or `./crmcal.toml` when it exists;
3. the defaults below (SPEC.md's defaults for every sync setting).

Secrets (client secrets, private keys) are `SecretStr`: they print as `**********`, and may be
given inline, through the environment, or as a `*_file` path (Y1). Invalid configuration fails at
load with `ConfigError`, whose message names each bad key and what is wrong with it.
"""

from __future__ import annotations

import os
import re
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import (
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
    TomlConfigSettingsSource,
)

from crmcal.domain.settings import OrgSettings, UserConfig

DEFAULT_CONFIG_FILE = "crmcal.toml"
ENV_PREFIX = "CRMCAL_"


class ConfigError(Exception):
    """The configuration cannot be used. `problems` holds one `(key, what is wrong)` per issue."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "") -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"invalid configuration{where}:"]
        lines += [f"  {key}: {msg}" for key, msg in problems]
        super().__init__("\n".join(lines))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _read_secret(inline: SecretStr | None, path: Path | None, key: str) -> SecretStr | None:
    if inline is not None and inline.get_secret_value():
        return inline
    if path is None:
        return None
    try:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ConfigError([(key, f"cannot read file {path}: {exc.strerror}")]) from None


class StorageConfig(_Section):
    data_dir: Path = Field(
        default=Path(".crmcal"),
        description="Where crmcal keeps its SQLite state file, logs and sandbox data.",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the state store. Default: SQLite file `<data_dir>/crmcal.db`. "
            "PostgreSQL: `postgresql+psycopg://user@host:5432/crmcal`."
        ),
    )

    secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "Y1: the key that encrypts secrets at rest (webhook clientStates in the state store, "
            "the generated dashboard session key). Default: generated into "
            "`<data_dir>/at-rest.key` (0600)."
        ),
    )
    secret_key_file: Path | None = Field(
        default=None, description="A file that holds `storage.secret_key`."
    )

    def at_rest_key(self) -> SecretStr | None:
        return _read_secret(self.secret_key, self.secret_key_file, "storage.secret_key_file")

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        scheme = v.split(":", 1)[0]
        if not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return v.strip()

    def url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'crmcal.db').as_posix()}"


class GraphConfig(_Section):
    """Microsoft Graph: an Entra ID app registration with application permissions."""

    tenant_id: str = Field(default="", description="Directory (tenant) id of the Entra ID tenant.")
    client_id: str = Field(default="", description="Application (client) id of the app.")
    client_secret: SecretStr | None = Field(default=None, description="Client secret value.")
    client_secret_file: Path | None = Field(
        default=None, description="A file that holds the client secret."
    )
    authority_url: str = Field(
        default="https://login.microsoftonline.com",
        description="Token authority; the sandbox prints its own.",
    )
    graph_url: str = Field(
        default="https://graph.microsoft.com/v1.0", description="Graph base URL with version."
    )
    delegated_refresh_token: SecretStr | None = Field(
        default=None,
        description="G2: refresh token of a user who consented to delegated `Group.Read.All` "
        "(group calendars refuse application permissions).",
    )
    delegated_refresh_token_file: Path | None = Field(
        default=None, description="A file that holds the delegated refresh token."
    )
    ca_bundle: Path | None = Field(
        default=None,
        description="PEM file of the CA certificates trusted for the token authority, Graph and "
        "the Entra ID sign-in, instead of the system store (a TLS-inspecting proxy's CA; the "
        "sandbox writes its own `sandbox-ca.pem`). Unset: the system's trusted CAs.",
    )

    @field_validator("authority_url", "graph_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        return _check_url(v)

    def secret(self) -> SecretStr | None:
        return _read_secret(self.client_secret, self.client_secret_file, "graph.client_secret_file")

    def delegated_token(self) -> SecretStr | None:
        return _read_secret(
            self.delegated_refresh_token,
            self.delegated_refresh_token_file,
            "graph.delegated_refresh_token_file",
        )

    @property
    def configured(self) -> bool:
        return bool(self.tenant_id and self.client_id)


class SalesforceAuth(StrEnum):
    JWT = "jwt"
    CLIENT_CREDENTIALS = "client_credentials"


class CalendarBackend(StrEnum):
    GRAPH = "graph"
    EWS = "ews"


class EwsAuth(StrEnum):
    NTLM = "ntlm"
    BASIC = "basic"
    OAUTH = "oauth"


class ExchangeConfig(_Section):
    """Exchange Server on-premises over EWS (issue 20); Exchange Online stays on Graph."""

    backend: CalendarBackend = Field(
        default=CalendarBackend.GRAPH,
        description="The org's calendar backend: `graph` (Exchange Online) or `ews` (Exchange "
        "Server on-premises).",
    )
    ews_mailboxes: tuple[str, ...] = Field(
        default=(),
        description="Hybrid: mailboxes reached through EWS although `backend` is `graph`.",
    )
    graph_mailboxes: tuple[str, ...] = Field(
        default=(),
        description="Hybrid: mailboxes reached through Graph although `backend` is `ews`.",
    )
    ews_url: str = Field(
        default="",
        description="The EWS endpoint, e.g. `https://mail.contoso.com/EWS/Exchange.asmx`.",
    )
    autodiscover: bool = Field(
        default=False, description="Find the EWS endpoint by Autodiscover when `ews_url` is empty."
    )
    username: str = Field(
        default="",
        description="The service account holding ApplicationImpersonation (`CONTOSO\\svc` or a "
        "UPN).",
    )
    password: SecretStr | None = Field(default=None, description="The service account's password.")
    password_file: Path | None = Field(default=None, description="A file that holds the password.")
    auth: EwsAuth = Field(
        default=EwsAuth.NTLM,
        description="`ntlm`, `basic` (both over https) or `oauth` (hybrid; uses `[graph]`'s app).",
    )
    impersonation: bool = Field(
        default=True,
        description="Reach each mailbox with `ExchangeImpersonation` (else delegate access).",
    )
    ca_bundle: Path | None = Field(
        default=None, description="PEM file of the CA that signed the server's certificate."
    )
    server_build: str = Field(
        default="15.2",
        description="Exchange build `major.minor` (15.2: 2019 and Subscription Edition; 15.1: "
        "2016); skips EWS version probing.",
    )
    batch_size: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="Items per CreateItem/UpdateItem/DeleteItem/GetItem.",
    )

    @field_validator("ews_mailboxes", "graph_mailboxes")
    @classmethod
    def _addresses(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(a.strip().lower() for a in v if a.strip())

    @field_validator("server_build")
    @classmethod
    def _build(cls, v: str) -> str:
        parts = v.strip().split(".")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError("must be `major.minor`, e.g. 15.2")
        return v.strip()

    @model_validator(mode="after")
    def _reachable(self) -> ExchangeConfig:
        if self.uses_ews and not (self.ews_url or self.autodiscover):
            raise ValueError("EWS mailboxes need `ews_url` or `autodiscover = true`")
        if self.ews_url:
            _check_url(self.ews_url)
        return self

    @property
    def uses_ews(self) -> bool:
        return self.backend is CalendarBackend.EWS or bool(self.ews_mailboxes)

    def overrides(self) -> dict[str, str]:
        """Mailbox -> backend for the per-user exceptions to `backend`."""
        out = dict.fromkeys(self.ews_mailboxes, "ews")
        out.update(dict.fromkeys(self.graph_mailboxes, "graph"))
        return out

    def secret(self) -> SecretStr | None:
        return _read_secret(self.password, self.password_file, "exchange.password_file")

    def build(self) -> tuple[int, int]:
        major, minor = self.server_build.split(".")
        return int(major), int(minor)


class SalesforceConfig(_Section):
    """Salesforce: a connected app (or external client app) for server-to-server OAuth."""

    login_url: str = Field(
        default="https://login.salesforce.com",
        description="Token host: login/test.salesforce.com or the org's My Domain URL.",
    )
    auth: SalesforceAuth = Field(
        default=SalesforceAuth.JWT, description="`jwt` or `client_credentials`."
    )
    client_id: str = Field(default="", description="The connected app's consumer key.")
    username: str = Field(default="", description="JWT bearer: the integration user's username.")
    private_key: SecretStr | None = Field(default=None, description="JWT: PEM private key.")
    private_key_file: Path | None = Field(default=None, description="JWT: PEM key file.")
    client_secret: SecretStr | None = Field(default=None, description="Client credentials secret.")
    client_secret_file: Path | None = Field(default=None, description="A file with the secret.")
    api_version: str = Field(
        default="68.0",
        pattern=r"^\d{2}\.\d$",
        description="REST API version; the org must serve it (checked once per process).",
    )
    ca_bundle: Path | None = Field(
        default=None,
        description="PEM file of the CA certificates trusted for Salesforce (login and instance "
        "URLs) instead of the system store; the sandbox writes its own. Unset: the system's CAs.",
    )

    @field_validator("login_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        return _check_url(v)

    def key(self) -> SecretStr | None:
        return _read_secret(self.private_key, self.private_key_file, "salesforce.private_key_file")

    def secret(self) -> SecretStr | None:
        return _read_secret(
            self.client_secret, self.client_secret_file, "salesforce.client_secret_file"
        )

    @property
    def configured(self) -> bool:
        return bool(self.client_id)


class ServerConfig(_Section):
    host: str = Field(default="127.0.0.1", description="Address `crmcal serve` listens on.")
    port: int = Field(default=8765, ge=1, le=65535, description="Port of the dashboard and API.")
    public_url: str | None = Field(
        default=None, description="Public HTTPS URL (webhooks for instant sync, sign-in redirects)."
    )
    session_secret: SecretStr | None = Field(
        default=None, description="Signs dashboard sessions; generated into data_dir when unset."
    )


class WebConfig(_Section):
    """`crmcal serve`: sign-in with Microsoft Entra ID (OpenID Connect) and who is an admin.

    The session secret and the public base URL are `server.session_secret` and
    `server.public_url`."""

    oidc_authority: str = Field(
        default="",
        description=(
            "Entra ID authority for dashboard sign-in, e.g. "
            "`https://login.microsoftonline.com/<tenant>/v2.0`; empty: local accounts only."
        ),
    )
    oidc_client_id: str = Field(default="", description="The app registration used to sign in.")
    oidc_client_secret: SecretStr | None = Field(default=None, description="Its client secret.")
    oidc_client_secret_file: Path | None = Field(
        default=None, description="A file that holds the OIDC client secret."
    )
    admins: tuple[str, ...] = Field(
        default=(), description="Y2: addresses that are admins when they sign in with Entra ID."
    )
    addin_frame_ancestors: tuple[str, ...] = Field(
        default=(),
        description=(
            "M7: origins besides Microsoft's Outlook hosts that may show the add-in's task pane, "
            "e.g. Exchange Server's Outlook on the web `https://mail.contoso.com`."
        ),
    )
    search_per_minute: int = Field(
        default=30,
        ge=1,
        le=10_000,
        description=(
            "Record searches (Save dialog) one dashboard account may run per minute; each costs "
            "Salesforce API calls, so one person can't spend the org's allowance."
        ),
    )

    @field_validator("oidc_authority")
    @classmethod
    def _authority(cls, v: str) -> str:
        return _check_url(v) if v.strip() else ""

    @field_validator("admins")
    @classmethod
    def _lower(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({a.strip().lower() for a in v if a.strip()}))

    @field_validator("addin_frame_ancestors")
    @classmethod
    def _origins(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for o in (x.strip().rstrip("/") for x in v if x.strip()):
            if not re.fullmatch(r"https://[A-Za-z0-9.*-]+(:\d+)?", o):
                raise ValueError(f"{o!r} is not an https origin like https://mail.contoso.com")
            out.append(o)
        return tuple(out)

    def secret(self) -> SecretStr | None:
        return _read_secret(
            self.oidc_client_secret, self.oidc_client_secret_file, "web.oidc_client_secret_file"
        )

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_authority and self.oidc_client_id)


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class LoggingConfig(_Section):
    level: LogLevel = Field(default=LogLevel.INFO, description="Log level.")
    json_format: bool = Field(
        default=False,
        alias="json",
        description=(
            "One JSON object per log line (`time`, `level`, `logger`, `message`, `exception`) "
            "for `run`, `worker`, `beat`, `serve` and `sync`; no secret is written (Y1)."
        ),
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SchedulerConfig(_Section):
    """`crmcal run` and the Celery workers: how many sessions at once, and the locks."""

    global_concurrency: int = Field(
        default=32,
        ge=1,
        le=1024,
        description=(
            "O1: user sessions running at once in one process (`crmcal run`, or one Celery "
            "worker with the threads pool)."
        ),
    )
    mailbox_concurrency: int = Field(
        default=4,
        ge=1,
        le=4,
        description="O3: Graph requests in flight per mailbox (Microsoft's limit is 4).",
    )
    lease_seconds: int = Field(
        default=600,
        ge=2,
        description=(
            "How long a user's session lock lives without renewal; a crashed worker's users "
            "are free again after this. Held locks are renewed every third of it."
        ),
    )
    poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description="`crmcal run`: how often it looks for force-sync requests between cycles.",
    )


class CeleryConfig(_Section):
    """`crmcal worker` and `crmcal beat`: the Celery broker."""

    broker_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Broker URL: `redis://host:6379/0` or `amqp://user:pass@host:5672//`.",
    )
    queue: str = Field(default="crmcal", description="The queue crmcal's tasks go to.")
    visibility_timeout_seconds: int = Field(
        default=3600,
        ge=1,
        description=(
            "Redis only: a task a dead worker took is handed out again after this long "
            "(RabbitMQ does it when the worker's connection drops)."
        ),
    )

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, v: str) -> str:
        scheme = v.split(":", 1)[0].lower()
        if scheme not in ("redis", "rediss", "amqp", "amqps", "pyamqp", "memory"):
            raise ValueError("must be a redis:// or amqp:// URL")
        return v.strip()

    def safe_url(self) -> str:
        """The broker URL without its password, for logs and `crmcal doctor`."""
        head, sep, tail = self.broker_url.partition("@")
        if not sep or "://" not in head:
            return self.broker_url
        scheme, _, cred = head.partition("://")
        user = cred.split(":", 1)[0]
        return f"{scheme}://{user}:***@{tail}" if ":" in cred else self.broker_url


def _check_url(v: str) -> str:
    v = v.strip().rstrip("/")
    if not (v.startswith("https://") or v.startswith("http://")):
        raise ValueError("must be an http:// or https:// URL")
    return v


class Config(BaseSettings):
    """The whole configuration of one crmcal installation (one org)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    storage: StorageConfig = StorageConfig()
    graph: GraphConfig = GraphConfig()
    exchange: ExchangeConfig = ExchangeConfig()
    salesforce: SalesforceConfig = SalesforceConfig()
    server: ServerConfig = ServerConfig()
    web: WebConfig = WebConfig()
    logging: LoggingConfig = LoggingConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    celery: CeleryConfig = CeleryConfig()
    org: OrgSettings = OrgSettings()
    users: tuple[UserConfig, ...] = ()

    _toml_file: ClassVar[Path | None] = None

    @model_validator(mode="after")
    def _unique_users(self) -> Config:
        seen: set[str] = set()
        for u in self.users:
            if u.mailbox in seen:
                raise ValueError(f"user {u.mailbox} is listed twice")
            seen.add(u.mailbox)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_file))
        return tuple(sources)

    def user(self, mailbox: str) -> UserConfig | None:
        key = mailbox.strip().lower()
        return next((u for u in self.users if u.mailbox == key), None)


def find_config_file(explicit: str | Path | None = None) -> Path | None:
    """The file to read: the one given, else `$CRMCAL_CONFIG`, else `./crmcal.toml` if present."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if env:
        return Path(env)
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.exists() else None


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Load and validate; raise `ConfigError` naming every bad key."""
    file = find_config_file(path)
    source = str(file) if file else "environment"
    if file is not None:
        if not file.exists():
            raise ConfigError([("config", f"file {file} does not exist")], source)
        try:
            with file.open("rb") as fh:
                tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([("config", f"not valid TOML: {exc}")], source) from None
    try:
        Config._toml_file = file
        cfg = Config(**overrides)
    except ValidationError as exc:
        raise ConfigError(_problems(exc), source) from None
    finally:
        Config._toml_file = None
    # Resolve secret files now so a missing file fails at load, not in the middle of a session.
    try:
        cfg.graph.secret()
        cfg.salesforce.key()
        cfg.salesforce.secret()
        cfg.exchange.secret()
        cfg.web.secret()
    except ConfigError as exc:
        raise ConfigError(exc.problems, source) from None
    return cfg


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ""
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        loc = loc or "config"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting (check the spelling against docs/configuration.md)"
        out.append((loc, msg))
    return out


def reference_markdown() -> str:
    """The configuration reference (docs/configuration.md), generated from the models."""
    from pydantic.fields import FieldInfo

    def default_of(info: FieldInfo) -> str:
        if info.default_factory is not None:
            value: object = info.default_factory()  # type: ignore[call-arg]
        else:
            value = info.default
        if value is None:
            return "unset"
        if isinstance(value, BaseModel):
            return "see below" if value.model_dump() else "empty"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, StrEnum):
            return f"`{value.value}`"
        if isinstance(value, tuple | list | dict | str) and not value:
            return "empty"
        if isinstance(value, tuple) and len(value) > 6:
            return ", ".join(f"`{v}`" for v in value[:6]) + f", ... ({len(value)} in all)"
        return f"`{value}`"

    def table(model: type[BaseModel], prefix: str) -> list[str]:
        rows = ["| key | default | meaning |", "|---|---|---|"]
        for name, info in model.model_fields.items():
            key = info.alias or name
            desc = (info.description or "").replace("|", "\\|").replace("\n", " ")
            rows.append(f"| `{prefix}{key}` | {default_of(info)} | {desc} |")
        return rows

    from crmcal.domain.settings import (
        AttachmentLimits,
        Blocklist,
        CalendarObject,
        GroupCalendarSync,
        PublicCalendarSync,
        UserSettings,
    )

    sections: list[tuple[str, type[BaseModel], str, str]] = [
        ("storage", StorageConfig, "storage.", "Where state lives."),
        ("graph", GraphConfig, "graph.", "Microsoft Graph (Entra ID app registration)."),
        ("exchange", ExchangeConfig, "exchange.", "Exchange Server on-premises (EWS)."),
        ("salesforce", SalesforceConfig, "salesforce.", "Salesforce connected app."),
        ("server", ServerConfig, "server.", "`crmcal serve`: dashboard and HTTP API."),
        ("web", WebConfig, "web.", "`crmcal serve`: Entra ID sign-in and admins."),
        ("logging", LoggingConfig, "logging.", "Logs."),
        ("scheduler", SchedulerConfig, "scheduler.", "O1/O3: `crmcal run` and workers."),
        ("celery", CeleryConfig, "celery.", "`crmcal worker` and `crmcal beat` (Celery)."),
        ("org", OrgSettings, "org.", "Sync behaviour for the whole org (rule IDs: SPEC.md)."),
        ("org.blocklist", Blocklist, "org.blocklist.", "A5: the org-wide blocklist."),
        ("org.attachment_limits", AttachmentLimits, "org.attachment_limits.", "T2."),
        ("[[org.public_calendars]]", PublicCalendarSync, "", "G1: one table per calendar."),
        ("[[org.group_calendars]]", GroupCalendarSync, "", "G2: one table per group."),
        ("[[org.calendar_objects]]", CalendarObject, "", "G4: one table per object."),
        ("[[users]]", UserConfig, "", "One table per user crmcal syncs for."),
        ("users.settings", UserSettings, "settings.", "Per-user settings, inside `[[users]]`."),
        ("users.settings.blocklist", Blocklist, "settings.blocklist.", "A5: the user's own list."),
    ]
    out = [
        "# Configuration reference",
        "",
        "Generated from the code by `crmcal config reference`; a test keeps this file equal to it.",
        "",
        "crmcal reads a TOML file (`--config`, else `$CRMCAL_CONFIG`, else `./crmcal.toml`) and",
        "environment variables, which win: `CRMCAL_<SECTION>__<KEY>`, for example",
        "`CRMCAL_GRAPH__CLIENT_SECRET` or `CRMCAL_ORG__WINDOW_FUTURE_DAYS=30`. Secrets can also be",
        "given as files (`*_file` keys). Unknown keys and bad values stop crmcal at start with a",
        "message that names the key; `crmcal config check` and `crmcal doctor` show them.",
        "",
    ]
    for title, model, prefix, blurb in sections:
        out += [f"## `{title}`", "", blurb, "", *table(model, prefix), ""]
    return "\n".join(out)
