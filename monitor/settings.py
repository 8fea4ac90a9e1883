"""Typed settings read from one YAML file; secrets come from the environment only."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

DEFAULT_DATABASE_URL = "sqlite:///brandmon.db"
DATABASE_URL_ENV = "BRANDMON_DATABASE_URL"
#: Keys that hold secrets; they are refused in config files so no token ever lands in one.
_SECRET_KEY = re.compile(r"(token|secret|password|api_key|apikey|client_secret|bearer)$", re.IGNORECASE)
UrgencyLevel = Literal["critical", "high", "normal", "low"]


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file, the key path and the reason."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrandSettings(_Model):
    """A brand to watch: its boolean query, its own accounts, its competitors, its urgent phrases."""

    name: str = Field(min_length=1)
    query: str = Field(min_length=1, max_length=512)
    #: The brand's own account per network, e.g. {x: KestrelMobile}; posts that summon it can be answered.
    handles: dict[str, str] = Field(default_factory=dict)
    #: Names of other configured brands this one is compared with in the digest.
    competitors: list[str] = Field(default_factory=list)
    #: A competitor is tracked for share of voice only: no alerts, no queue.
    own: bool = True
    urgency_keywords: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("query")
    @classmethod
    def _query_parses(cls, value: str) -> str:
        from sources.query import parse_query  # the one parser every network and the local matcher share

        parse_query(value)  # a QueryError is a ValueError: "unbalanced parenthesis at column 14"
        return value


class SourceSettings(_Model):
    """One poller: which network, for which brand, how often."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    type: str
    brand: str
    enabled: bool = True
    poll_interval_s: float = Field(default=60.0, gt=0)
    options: dict[str, Any] = Field(default_factory=dict)


class SlaTarget(_Model):
    """Minutes to the first public answer and to resolution."""

    first_response_min: int = Field(gt=0)
    resolution_min: int = Field(gt=0)


class SlaSettings(_Model):
    """SLA targets per urgency level, counted in business hours of one time zone."""

    timezone: str = "UTC"
    business_hours: tuple[str, str] | None = None
    business_days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    critical: SlaTarget = SlaTarget(first_response_min=15, resolution_min=240)
    high: SlaTarget = SlaTarget(first_response_min=60, resolution_min=480)
    normal: SlaTarget = SlaTarget(first_response_min=240, resolution_min=1440)
    low: SlaTarget = SlaTarget(first_response_min=1440, resolution_min=4320)
    #: Urgency score from which a post counts as each level.
    level_thresholds: dict[str, float] = Field(
        default_factory=lambda: {"critical": 0.75, "high": 0.5, "normal": 0.25}
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def target(self, level: str) -> SlaTarget:
        """Return the SLA target for an urgency level."""
        return getattr(self, level)  # type: ignore[no-any-return]

    def level_for(self, urgency_score: float) -> UrgencyLevel:
        """Map an urgency score to its level."""
        for level in ("critical", "high", "normal"):
            if urgency_score >= self.level_thresholds.get(level, 1.1):
                return level  # type: ignore[return-value]
        return "low"


class ClassifierSettings(_Model):
    """Which classifier scores posts, and its options."""

    kind: str = "transformer"
    options: dict[str, Any] = Field(default_factory=dict)
    batch_size: int = Field(default=64, gt=0)


class RouteRule(_Model):
    """Send matching posts to a Slack channel; every condition left out matches anything."""

    name: str = Field(min_length=1, max_length=100)
    channel: str = Field(min_length=1, max_length=200)
    brands: list[str] | None = None
    networks: list[str] | None = None
    sentiments: list[Literal["negative", "neutral", "positive"]] | None = None
    complaint: bool | None = None
    urgency_categories: list[str] | None = None
    min_urgency: float = Field(default=0.0, ge=0, le=1)
    min_followers: int | None = Field(default=None, ge=0)
    verified_only: bool = False
    languages: list[str] | None = None
    #: After a new top-level message from this rule, hold back further new ones this long (incidents still grow).
    cooldown_s: float = Field(default=0.0, ge=0)
    #: Posts that join an open incident go in its thread; off keeps only the updated count.
    thread_replies: bool = True
    #: Rules are tried in order and the first match wins; true lets the rules below match the post too.
    keep_matching: bool = False


class QuietHours(_Model):
    """Quiet hours of one channel: only posts with urgency at or above `break_urgency` notify during them."""

    channel: str = Field(min_length=1)
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = "UTC"
    #: Weekdays (0 = Monday) on which quiet hours begin; all days when left out.
    days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6])
    break_urgency: float = Field(default=0.75, ge=0, le=1)
    #: "hold" sends the alert when quiet hours end; "drop" only records it (the queue item stays).
    action: Literal["hold", "drop"] = "hold"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return SlaSettings._known_timezone(value)


class SpikeSettings(_Model):
    """Spike detection per brand: volume and negative share against an hour-of-week baseline."""

    #: Channel that hears about spikes; detection is off while this is unset.
    channel: str | None = None
    brands: list[str] | None = None
    interval_s: float = Field(default=300.0, gt=0)
    #: Sudden burst: posts in the last `window_min` against the same window in past weeks.
    window_min: int = Field(default=60, gt=0, le=24 * 60)
    burst_factor: float = Field(default=3.0, gt=1)
    min_posts: int = Field(default=10, gt=0)
    #: Slow climb: `climb_hours` hours each at least the one before, all together `climb_factor` times normal.
    climb_hours: int = Field(default=4, ge=2, le=24)
    climb_factor: float = Field(default=2.0, gt=1)
    #: Negative share this far above its baseline alerts even when volume is normal.
    negative_share_delta: float = Field(default=0.25, gt=0, le=1)
    baseline_weeks: int = Field(default=4, gt=0, le=26)
    cooldown_s: float = Field(default=3600.0, ge=0)


class SlackSettings(_Model):
    """Slack delivery: where the Web API is, routing rules, quiet hours, incidents, spikes, the per-channel rate."""

    enabled: bool = True
    #: Web API base URL; point it at a loopback server in tests and the demo.
    base_url: str = "https://slack.com/api/"
    routes: list[RouteRule] = Field(default_factory=list)
    quiet_hours: list[QuietHours] = Field(default_factory=list)
    messages_per_second: float = Field(default=1.0, gt=0)
    max_attempts: int = Field(default=50, gt=0)
    #: A message left "sending" this long belongs to a process that died mid-send and is checked in Slack.
    in_doubt_after_s: float = Field(default=30.0, gt=0)
    #: A post joins an incident whose newest post is at most this old (by post time).
    incident_window_min: int = Field(default=120, gt=0)
    #: Word-shingle overlap (Jaccard) from which two posts count as the same wording.
    incident_similarity: float = Field(default=0.5, gt=0, le=1)
    #: Urgency categories where a brand's posts close together in time are one incident (an outage is one story).
    incident_categories: list[str] = Field(default_factory=lambda: ["outage"])
    #: How close together (by post time) posts must be to join on their category alone.
    incident_category_gap_min: int = Field(default=30, gt=0)
    #: Thread replies per incident at most; later posts only update the count.
    incident_thread_max: int = Field(default=50, ge=0)
    incident_examples: int = Field(default=3, ge=1, le=10)
    #: Public URL of the web app, for "Open in queue" buttons; the button is left out while unset.
    queue_url: str | None = None
    #: Signed interactivity requests older than this are refused as replays.
    signature_max_age_s: int = Field(default=300, gt=0)
    spikes: SpikeSettings = SpikeSettings()

    @model_validator(mode="after")
    def _names_unique(self) -> SlackSettings:
        seen: set[str] = set()
        for i, rule in enumerate(self.routes):
            if rule.name in seen:
                raise ValueError(f"routes[{i}].name: duplicate route {rule.name!r}")
            seen.add(rule.name)
        return self


class SavedReplySettings(_Model):
    """A reply template from the config file; `{first_name}`, `{name}`, `{handle}`, `{brand}` are filled in."""

    name: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1)
    kind: Literal["respond", "thank"] | None = None
    networks: list[str] | None = None


class QueueSettings(_Model):
    """The reply queue: how long a claim lasts, when to warn before a deadline, the saved replies."""

    lease_min: int = Field(default=30, gt=0)
    breach_warning_min: int = Field(default=15, ge=0)
    saved_replies: list[SavedReplySettings] = Field(default_factory=list)


class WebSettings(_Model):
    """Where `brandmon serve` listens and how long a login lasts."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, gt=0, lt=65536)
    session_max_age_s: int = Field(default=12 * 3600, gt=0)
    #: Send the session cookie over HTTPS only; turn off only for plain-HTTP local use.
    secure_cookies: bool = False
    #: The address responders open (e.g. https://care.example.com); Slack alerts link items to `/items/<id>` there.
    public_url: str | None = None


class SchedulerSettings(_Model):
    """How often each downstream step runs."""

    classify_interval_s: float = Field(default=5.0, gt=0)
    route_interval_s: float = Field(default=5.0, gt=0)
    deliver_interval_s: float = Field(default=2.0, gt=0)


class DigestSettings(_Model):
    """The weekly digest: when it is made, where the HTML goes, which Slack channel gets the summary."""

    #: Make each own brand's digest every week on the scheduler (`brandmon run`).
    enabled: bool = True
    #: Slack channel for the short summary; none means the report is only written to `out_dir`.
    slack_channel: str | None = None
    out_dir: str = "digests"
    #: When the weekly job runs, in `timezone`: day (mon..sun) and HH:MM; it reports the week just ended.
    schedule_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    schedule_time: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    #: Weeks and days start at midnight here.
    timezone: str = "UTC"
    #: How many earlier weeks the sentiment trend compares against.
    previous_weeks: int = Field(default=4, ge=1, le=26)
    max_themes: int = Field(default=6, ge=1, le=20)
    #: "minilm" (sentence embeddings + words; needs torch) or "tfidf" (words only, no torch).
    theme_embedder: Literal["minilm", "tfidf"] = "minilm"
    #: Where the reports are served (e.g. https://intranet.example/digests/); the Slack summary links there.
    report_base_url: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_digest_timezone(cls, value: str) -> str:
        return SlaSettings._known_timezone(value)  # type: ignore[call-arg]


class Settings(_Model):
    """Everything brandmon reads from its config file."""

    database_url: str = DEFAULT_DATABASE_URL
    brands: list[BrandSettings] = Field(min_length=1)
    sources: list[SourceSettings] = Field(default_factory=list)
    classifier: ClassifierSettings = ClassifierSettings()
    slack: SlackSettings = SlackSettings()
    sla: SlaSettings = SlaSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    queue: QueueSettings = QueueSettings()
    web: WebSettings = WebSettings()
    digest: DigestSettings = DigestSettings()

    @model_validator(mode="after")
    def _references_resolve(self) -> Settings:
        names = [b.name for b in self.brands]
        for i, brand in enumerate(self.brands):
            if names.count(brand.name) > 1:
                raise ValueError(f"brands[{i}].name: duplicate brand {brand.name!r}")
            for competitor in brand.competitors:
                if competitor not in names:
                    raise ValueError(f"brands[{i}].competitors: {competitor!r} is not a configured brand")
        seen: set[str] = set()
        for i, source in enumerate(self.sources):
            if source.brand not in names:
                raise ValueError(f"sources[{i}].brand: {source.brand!r} is not a configured brand")
            if source.name in seen:
                raise ValueError(f"sources[{i}].name: duplicate source {source.name!r}")
            seen.add(source.name)
        return self

    def brand(self, name: str) -> BrandSettings:
        """Return the brand called `name`."""
        for brand in self.brands:
            if brand.name == name:
                return brand
        raise KeyError(name)


class Secrets(BaseModel):
    """Credentials, read from the environment only and never logged."""

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    #: App-level token (xapp-...) for Socket Mode: `brandmon alerts listen`.
    slack_app_token: SecretStr | None = None
    #: X: an app-only bearer token for reads; the four OAuth 1.0a user-context keys to read mentions and reply.
    x_bearer_token: SecretStr | None = None
    x_consumer_key: SecretStr | None = None
    x_consumer_secret: SecretStr | None = None
    x_access_token: SecretStr | None = None
    x_access_token_secret: SecretStr | None = None
    #: Reddit "script" app: client id and secret, plus the account's username and password (or a refresh token).
    reddit_client_id: SecretStr | None = None
    reddit_client_secret: SecretStr | None = None
    reddit_username: SecretStr | None = None
    reddit_password: SecretStr | None = None
    reddit_refresh_token: SecretStr | None = None
    web_session_secret: SecretStr | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Secrets:
        """Read every secret from `BRANDMON_*` environment variables."""
        env = os.environ if environ is None else environ
        values = {
            field: SecretStr(env[f"BRANDMON_{field.upper()}"])
            for field in cls.model_fields
            if env.get(f"BRANDMON_{field.upper()}")
        }
        return cls(**values)


def _format_loc(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _refuse_secrets(data: Any, path: str = "") -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if _SECRET_KEY.search(str(key)) and value not in (None, ""):
                raise ConfigError(
                    f"{where}: secrets are never stored in config files; set it in the environment "
                    "instead (README, 'Secrets')"
                )
            _refuse_secrets(value, where)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            _refuse_secrets(item, f"{path}[{i}]")


def parse_settings(data: Any, *, origin: str = "<config>", database_url: str | None = None) -> Settings:
    """Validate already-parsed config data; errors name `origin`, the key path and the reason."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of settings")
    try:
        _refuse_secrets(data)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    data = dict(data)
    url = database_url or os.environ.get(DATABASE_URL_ENV)
    if url:
        data["database_url"] = url
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = _format_loc(tuple(first["loc"]))
        message = first["msg"].removeprefix("Value error, ")
        where = f"{origin}: {loc}: " if loc else f"{origin}: "
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{where}{message}{more}") from None


def load_settings(path: str | Path, *, database_url: str | None = None) -> Settings:
    """Read and validate a YAML config file; precedence is flag > environment > file > default."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}invalid YAML: {problem}") from None
    return parse_settings(data, origin=str(path), database_url=database_url)
