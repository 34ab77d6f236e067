"""Configuration: one TOML file plus environment variables for secrets.

Every number and name of the city's policy lives here, so that another city can run caredesk
with its own. Loading validates everything up front and reports the first problem as one
`ConfigError` naming the key, so a typo never surfaces later as a traceback in a worker.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from bot.clock import DEFAULT_SLA, BusinessCalendar, SlaRule

CONFIG_ENV = "CAREDESK_CONFIG"
DEFAULT_CONFIG_FILE = "caredesk.toml"

REVIEW_MODES = ("auto", "review")

#: Which drafted replies may leave without a person reading them first (POLICY.md: sensitive
#: kinds always wait). "ack-*" are the policy's 1-business-day acknowledgements.
DEFAULT_REVIEW: Mapping[str, str] = {
    "ack-complaint": "auto",
    "ack-request": "auto",
    "ack-email": "auto",
    "ack-hazard": "auto",
    "feedback-thanks": "auto",
    # "auto": the acknowledgement itself lists the missing items and asks for them;
    # "review": a separate request is drafted for staff to vet.
    "missing-info": "auto",
    "anonymous-declined": "review",
    "out-of-scope": "review",
    # A question: staff add the answer to the drafted reply before it goes.
    "enquiry-answer": "review",
    "interim-ack": "review",
    "closing": "review",
}

#: Reply kinds that can never be configured to go out automatically (POLICY.md, last rule).
ALWAYS_REVIEWED = frozenset({"anonymous-declined", "out-of-scope"})

#: Reply kinds a second person must approve (maker-checker, `[review] two_person`): whoever
#: wrote or edited the draft cannot approve it. The defaults are the two replies that tell a
#: resident the city will not act on what they wrote (POLICY.md 02.01, 02.03): a wrong word
#: there closes a door, so two people read it before it goes.
DEFAULT_TWO_PERSON: tuple[str, ...] = ("anonymous-declined", "out-of-scope")


class ConfigError(Exception):
    """The configuration is wrong; the message names the key and the problem."""


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str
    email: str
    web: str
    hours: str = ""
    text: str = ""


@dataclass(frozen=True)
class CityConfig:
    name: str = "City of Example"
    timezone: str = "America/Toronto"
    opens: time = time(8, 30)
    closes: time = time(16, 30)
    holiday_country: str = "CA"
    holiday_subdiv: str | None = "ON"
    civic_holiday: bool = True
    extra_closures: tuple[date, ...] = ()


@dataclass(frozen=True)
class DialogueConfig:
    #: Longer chat messages are refused with a polite note rather than silently cut.
    max_message_chars: int = 4000
    #: Offered in prompts that ask for a phone number; phonenumbers' default region.
    phone_region: str = "CA"
    #: After a conversation is ended for abusive language, how long before a new one starts.
    abuse_cooloff_minutes: int = 15
    #: A conversation with no message for this long is paused (the resident is told).
    idle_minutes: int = 30
    #: At most this many messages a minute from one conversation; more get a polite note.
    rate_per_minute: int = 20
    #: Also email the acknowledgement when a chat resident gave an email address.
    email_copy: bool = True
    #: For this long after filing, a message in the same conversation is added to the case
    #: just filed ("Actually it was Wednesday"), unless the resident asks for a new one.
    add_to_case_hours: int = 24


@dataclass(frozen=True)
class TelegramConfig:
    """The token is never here: it comes from CAREDESK_TELEGRAM_TOKEN."""

    #: Telegram's own by default; a self-hosted Bot API server's URL (ending in /bot) otherwise.
    api_base_url: str = "https://api.telegram.org/bot"
    api_file_url: str = "https://api.telegram.org/file/bot"
    mode: str = "polling"  # polling | webhook
    #: webhook mode: the public HTTPS URL Telegram posts to, and the local path it maps to.
    webhook_url: str = ""
    webhook_path: str = "/telegram/webhook"
    #: Long-poll timeout of getUpdates, in seconds.
    poll_timeout: int = 10

    @property
    def token(self) -> str:
        return os.environ.get("CAREDESK_TELEGRAM_TOKEN", "")

    @property
    def webhook_secret(self) -> str:
        return os.environ.get("CAREDESK_TELEGRAM_WEBHOOK_SECRET", "")


@dataclass(frozen=True)
class WebConfig:
    #: The page warns this long before a silent conversation is paused (WCAG 2.2.1).
    idle_warning_seconds: int = 120
    #: Set when the service is behind HTTPS, so the session cookie is never sent in clear.
    secure_cookie: bool = False
    #: How often idle conversations are looked for and queued notices pushed.
    sweep_seconds: int = 30
    #: After a pause, how long a resident may come back to the same conversation. The session
    #: cookie lives idle + resume minutes (a shared computer forgets it soon after).
    resume_minutes: int = 120
    #: At most this many messages a minute from one client address (beside the limit per
    #: conversation, which a new cookie would escape).
    client_rate_per_minute: int = 120
    #: The address (or network, CIDR) of the reverse proxy in front of caredesk. Only requests
    #: from it have X-Forwarded-For / X-Forwarded-Proto read; empty: the headers are ignored.
    trusted_proxy: str = ""
    #: Extra origins (scheme://host[:port]) allowed to open the chat socket and post forms,
    #: besides the page's own.
    allowed_origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class StaffConfig:
    """The staff pages under /staff/: sessions and sign-in throttling."""

    #: A session unused for this long ends (the next page asks to sign in again).
    idle_minutes: int = 30
    #: A session ends this long after sign-in however busy it was (a working day).
    absolute_hours: int = 10
    #: Force the Secure cookie flag (it is set anyway when the request came over https).
    secure_cookie: bool = False
    #: After this many failed sign-ins to one account within `throttle_minutes`...
    account_failures: int = 5
    #: ...or this many from one client address (whatever the accounts)...
    client_failures: int = 20
    #: ...sign-in is refused for the rest of this window.
    throttle_minutes: int = 15


@dataclass(frozen=True)
class TrackerConfig:
    """Forwarding cases to the departments' trackers (issue 12): retries and status sync."""

    #: A forward that fails this many times (network, 5xx) goes on the dead-letter list.
    max_attempts: int = 8
    #: The first retry waits this long; each next one twice as long (at most an hour).
    retry_base_seconds: int = 30
    #: One call to a tracker gives up after this long (then it is retried).
    timeout_seconds: int = 20
    #: Every this many seconds, Open311 tokens are resolved to ids and the status of every
    #: open case with a service request is read back (bot/tracker_sync.py).
    sync_seconds: int = 300


@dataclass(frozen=True)
class RulesConfig:
    """Extra phrases added to the built-in classification rules (bot/policy.py)."""

    safety: tuple[str, ...] = ()
    abuse: tuple[str, ...] = ()
    council: tuple[str, ...] = ()
    appeal: tuple[str, ...] = ()
    employee: tuple[str, ...] = ()
    legislation: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()
    request: tuple[str, ...] = ()
    feedback: tuple[str, ...] = ()
    #: Longer phrases in which a safety word names a thing, not an event ("fire hydrant").
    safety_not_events: tuple[str, ...] = ()


DEFAULT_CARE = Contact(
    name="Customer Care Centre",
    phone="311",
    email="customercare@city.example",
    web="city.example/customercare",
    hours="Monday to Friday, 8:30 a.m. to 4:30 p.m.",
)
DEFAULT_OMBUDSMAN = Contact(
    name="Ontario Ombudsman",
    phone="1-800-263-1830",
    email="info@ombudsman.on.ca",
    web="ombudsman.on.ca",
    text=(
        "If you are not satisfied with how we handled your concern, or with the outcome, "
        "you can contact the Ontario Ombudsman once our process is complete."
    ),
)


@dataclass(frozen=True)
class OmbudsmanOfficeConfig:
    """Mail from the Ombudsman's office (policy 04.06, `[ombudsman]`): from these domains (and
    their subdomains), verified by the city's mail server, it is never acknowledged
    automatically, goes to a supervisor, and the City Clerk is told at `clerk_email`."""

    domains: tuple[str, ...] = ("ombudsman.on.ca",)
    #: The City Clerk's address; empty: no notice is sent and the case says to tell the Clerk.
    clerk_email: str = ""


@dataclass(frozen=True)
class SurveyConfig:
    """The satisfaction survey after a case is closed (seed 000, `[survey]`)."""

    enabled: bool = True
    #: The survey leaves this long after closing, so the closing reply (vetted by staff) is
    #: normally read first.
    delay_hours: int = 24
    #: A chat message this many days after the survey was asked still counts as its answer.
    answer_days: int = 14


SECURITY_MODES = ("tls", "starttls", "none")
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int = 993
    security: str = "tls"  # tls | starttls | none (loopback only)
    user: str = ""
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    #: "move" to processed_folder after the case is committed, or "flag" (\Seen + keyword).
    after: str = "move"
    idle: bool = True
    poll_seconds: int = 60
    #: IDLE is re-issued before servers drop it (RFC 2177: at least every 29 minutes).
    idle_renew_seconds: int = 600
    timeout_seconds: int = 60
    #: A message whose processing failed this many times is filed for staff and set aside...
    max_attempts: int = 3
    #: ...in this folder (created if missing; in "flag" mode it is flagged instead).
    quarantine_folder: str = "Quarantine"
    #: Message bodies are fetched in batches of at most this many bytes.
    fetch_batch_bytes: int = 32 * 1024 * 1024

    @property
    def password(self) -> str:
        return os.environ.get("CAREDESK_IMAP_PASSWORD", "")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    security: str = "starttls"
    user: str = ""
    timeout_seconds: int = 30
    #: 4xx answers and dropped connections: retried after base * 2^attempt seconds...
    retry_base_seconds: float = 30.0
    #: ...up to this many attempts, then the item is marked failed and staff are alerted.
    max_attempts: int = 10

    @property
    def password(self) -> str:
        return os.environ.get("CAREDESK_SMTP_PASSWORD", "")


@dataclass(frozen=True)
class MailConfig:
    address: str = "feedback@city.example"
    from_name: str = "City of Example Customer Care"
    own_addresses: tuple[str, ...] = ("feedback@city.example",)
    #: Right-hand side of our Message-IDs: <CD-2026-000123.ack-email@caredesk.city.example>.
    message_id_domain: str = "caredesk.city.example"
    #: Messages larger than this are kept raw and cased for staff, not parsed.
    max_message_bytes: int = 25 * 1024 * 1024
    #: At most this many automatic acknowledgements to one sender per day.
    ack_per_sender_per_day: int = 3
    #: Never acknowledge an address that bounced within this many days.
    bounce_memory_days: int = 60
    #: At most this many automatic acknowledgement emails an hour, to everyone together
    #: (mail intake and chat email copies); more wait for staff.
    acks_per_hour: int = 200
    #: The authserv-id the city's receiving server writes in Authentication-Results
    #: (RFC 8601); only those headers are read. Empty: sender verification is not read.
    authserv_id: str = ""
    imap: ImapConfig | None = None
    smtp: SmtpConfig | None = None


@dataclass(frozen=True)
class ClocksConfig:
    """The scheduler (bot/scheduler.py): the policy's clocks after intake (Appendix 1)."""

    #: How often `caredesk serve` runs a pass, in seconds.
    tick_seconds: int = 60
    #: Business days between follow-up requests 1 and 2, and 2 and 3, to a department that
    #: recorded no update. The 3rd request copies the Supervisor and the file is marked for
    #: follow-up in [sla] escalation-recheck business days; the 4th copies the Director; then
    #: one request each business day.
    follow_up_spacing: tuple[int, int] = (5, 5)
    #: A notice to the resident (drafted for staff) this many calendar days before a case's
    #: anticipated completion date, if the case is still open then.
    notice_days_before: int = 7
    #: The morning digest of cases past a standard, once a business day to this address;
    #: empty: no digest.
    digest_to: str = ""


@dataclass(frozen=True)
class Config:
    city: CityConfig = field(default_factory=CityConfig)
    care: Contact = DEFAULT_CARE
    ombudsman: Contact = DEFAULT_OMBUDSMAN
    sla: Mapping[str, SlaRule] = field(default_factory=lambda: dict(DEFAULT_SLA))
    review: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_REVIEW))
    two_person: frozenset[str] = frozenset(DEFAULT_TWO_PERSON)
    dialogue: DialogueConfig = field(default_factory=DialogueConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    store_path: Path = Path("caredesk.db")
    mail: MailConfig = field(default_factory=MailConfig)
    web: WebConfig = field(default_factory=WebConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    staff: StaffConfig = field(default_factory=StaffConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    reference_prefix: str = "CD"
    #: Retention of closed cases' personal data, in days (POLICY.md: records kept, 04.08).
    retention_days: int = 2555
    #: How often `serve` runs the retention job, in hours; 0 turns the job off in `serve`
    #: (e.g. when cron runs `caredesk retention run` instead).
    retention_every_hours: int = 24
    #: The city's departments and the rules that route a case to one (issue 12); empty: no
    #: routing, `cases.department` stays empty and staff choose.
    departments: tuple[Department, ...] = ()
    routing: tuple[RoutingRule, ...] = ()
    #: Mail from the Ombudsman's office (issue 13, 04.06) and the satisfaction survey.
    ombudsman_office: OmbudsmanOfficeConfig = field(default_factory=OmbudsmanOfficeConfig)
    survey: SurveyConfig = field(default_factory=SurveyConfig)
    clocks: ClocksConfig = field(default_factory=ClocksConfig)
    source: str = "built-in defaults"

    def department(self, key: str | None) -> Department | None:
        return next((d for d in self.departments if d.key == key), None)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.city.timezone)

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(
            tz=self.tz,
            opens=self.city.opens,
            closes=self.city.closes,
            country=self.city.holiday_country,
            subdiv=self.city.holiday_subdiv,
            civic_holiday=self.city.civic_holiday,
            extra_closures=frozenset(self.city.extra_closures),
        )

    def needs_review(self, reply_kind: str) -> bool:
        return reply_kind in ALWAYS_REVIEWED or self.review.get(reply_kind, "review") != "auto"


# ---------------------------------------------------------------------------------------------
# Loading


def find_config_file(explicit: str | None, cwd: Path | None = None) -> Path | None:
    """--config FILE, else $CAREDESK_CONFIG, else ./caredesk.toml if present, else None."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    candidate = (cwd or Path.cwd()) / DEFAULT_CONFIG_FILE
    return candidate if candidate.is_file() else None


def load_config(path: Path | None) -> Config:
    """Read and validate a TOML file; None gives the built-in defaults."""
    if path is None:
        return Config()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse_config(raw, source=str(path), base=path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_config(
    raw: Mapping[str, Any], source: str = "<dict>", base: Path | None = None
) -> Config:
    """Build a Config from parsed TOML; unknown keys are errors (they are usually typos)."""
    _known(
        raw,
        "",
        {
            "city",
            "contact",
            "sla",
            "review",
            "dialogue",
            "rules",
            "store",
            "references",
            "retention",
            "mail",
            "web",
            "telegram",
            "staff",
            "tracker",
            "departments",
            "routing",
            "ombudsman",
            "survey",
            "clocks",
        },
    )
    city = _section(
        raw,
        "city",
        CityConfig,
        {
            "name": _str,
            "timezone": _timezone,
            "opens": _clock_time,
            "closes": _clock_time,
            "holiday_country": _str,
            "holiday_subdiv": _opt_str,
            "civic_holiday": _bool,
            "extra_closures": _dates,
        },
    )
    if city.opens >= city.closes:
        raise ConfigError("city.opens: must be earlier than city.closes")
    _check_holidays(city)
    contact = _table(raw, "contact")
    _known(contact, "contact.", {"care", "ombudsman"})
    care = _contact(contact, "care", DEFAULT_CARE)
    ombudsman = _contact(contact, "ombudsman", DEFAULT_OMBUDSMAN)
    sla = _sla(_table(raw, "sla"))
    review_table = dict(_table(raw, "review"))
    two_person = _two_person(review_table.pop("two_person", list(DEFAULT_TWO_PERSON)))
    review = _review(review_table)
    dialogue = _section(
        raw,
        "dialogue",
        DialogueConfig,
        {
            "max_message_chars": _positive_int,
            "phone_region": _str,
            "abuse_cooloff_minutes": _positive_int,
            "idle_minutes": _positive_int,
            "rate_per_minute": _positive_int,
            "email_copy": _bool,
            "add_to_case_hours": _positive_int,
        },
    )
    rules = _section(raw, "rules", RulesConfig, {f.name: _phrases for f in fields(RulesConfig)})
    store = _table(raw, "store")
    _known(store, "store.", {"path"})
    store_path = Path(_str("store.path", store.get("path", "caredesk.db")))
    if base is not None and not store_path.is_absolute() and "path" in store:
        store_path = base / store_path
    refs = _table(raw, "references")
    _known(refs, "references.", {"prefix"})
    prefix = _str("references.prefix", refs.get("prefix", "CD"))
    if not prefix.isalnum() or not prefix.isascii():
        raise ConfigError("references.prefix: must be letters and digits only, e.g. 'CD'")
    retention = _table(raw, "retention")
    _known(retention, "retention.", {"days", "every_hours"})
    retention_days = _positive_int("retention.days", retention.get("days", 2555))
    every_hours = retention.get("every_hours", 24)
    if isinstance(every_hours, bool) or not isinstance(every_hours, int) or every_hours < 0:
        raise ConfigError(
            f"retention.every_hours: must be a whole number of hours (0 = off), got {every_hours!r}"
        )
    mail = _mail(_table(raw, "mail"))
    web = _section(
        raw,
        "web",
        WebConfig,
        {
            "idle_warning_seconds": _positive_int,
            "secure_cookie": _bool,
            "sweep_seconds": _positive_int,
            "resume_minutes": _positive_int,
            "client_rate_per_minute": _positive_int,
            "trusted_proxy": _network,
            "allowed_origins": _origins,
        },
    )
    telegram = _section(
        raw,
        "telegram",
        TelegramConfig,
        {
            "api_base_url": _url,
            "api_file_url": _url,
            "mode": _choice("polling", "webhook"),
            "webhook_url": _url,
            "webhook_path": _str,
            "poll_timeout": _positive_int,
        },
    )
    staff = _section(
        raw,
        "staff",
        StaffConfig,
        {
            "idle_minutes": _positive_int,
            "absolute_hours": _positive_int,
            "secure_cookie": _bool,
            "account_failures": _positive_int,
            "client_failures": _positive_int,
            "throttle_minutes": _positive_int,
        },
    )
    tracker = _section(
        raw,
        "tracker",
        TrackerConfig,
        {
            "max_attempts": _positive_int,
            "retry_base_seconds": _positive_int,
            "timeout_seconds": _positive_int,
            "sync_seconds": _positive_int,
        },
    )
    if telegram.mode == "webhook" and not telegram.webhook_url.startswith("https://"):
        raise ConfigError(
            "telegram.webhook_url: webhook mode needs the public https:// URL "
            "that Telegram will post to"
        )
    departments = _departments(raw.get("departments", []))
    routing = _routing(raw.get("routing", []), departments)
    ombudsman_office = _ombudsman_office(_table(raw, "ombudsman"))
    survey = _section(
        raw,
        "survey",
        SurveyConfig,
        {"enabled": _bool, "delay_hours": _non_negative_int, "answer_days": _positive_int},
    )
    clocks = _section(
        raw,
        "clocks",
        ClocksConfig,
        {
            "tick_seconds": _positive_int,
            "follow_up_spacing": _spacing,
            "notice_days_before": _positive_int,
            "digest_to": lambda key, value: "" if value == "" else _email(key, value),
        },
    )
    return Config(
        ombudsman_office=ombudsman_office,
        survey=survey,
        departments=departments,
        routing=routing,
        clocks=clocks,
        mail=mail,
        web=web,
        telegram=telegram,
        staff=staff,
        tracker=tracker,
        city=city,
        care=care,
        ombudsman=ombudsman,
        sla=sla,
        review=review,
        two_person=two_person,
        dialogue=dialogue,
        rules=rules,
        store_path=store_path,
        reference_prefix=prefix.upper(),
        retention_days=retention_days,
        retention_every_hours=every_hours,
        source=source,
    )


# ---------------------------------------------------------------------------------------------
# Validators: each takes the dotted key (for the message) and the raw value.

T = TypeVar("T")
Validator = Callable[[str, Any], Any]


def _table(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: must be a table ([{key}])")
    return value


def _known(table: Mapping[str, Any], prefix: str, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{prefix}{key}: unknown key (expected one of: {', '.join(sorted(allowed))})"
            )


def _section(raw: Mapping[str, Any], name: str, cls: type[T], spec: Mapping[str, Validator]) -> T:
    table = _table(raw, name)
    _known(table, f"{name}.", set(spec))
    values = {
        key: check(f"{name}.{key}", table[key]) for key, check in spec.items() if key in table
    }
    return cls(**values)


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: must be a non-empty string")
    return value.strip()


def _opt_str(key: str, value: Any) -> str | None:
    return None if value == "" else _str(key, value)


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: must be true or false")
    return value


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key}: must be a whole number of at least 1, got {value!r}")
    return value


def _timezone(key: str, value: Any) -> str:
    name = _str(key, value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{key}: unknown time zone {name!r} (e.g. 'America/Toronto')") from None
    return name


def _clock_time(key: str, value: Any) -> time:
    if isinstance(value, time):  # an unquoted TOML local time, 08:30:00
        parsed = value
    else:
        text = _str(key, value)
        try:
            parsed = time.fromisoformat(text)
        except ValueError:
            raise ConfigError(f"{key}: must be a time like '08:30', got {text!r}") from None
    if parsed.tzinfo is not None:
        raise ConfigError(
            f"{key}: a local time without a UTC offset, like '08:30' (the zone is city.timezone)"
        )
    return parsed


def _dates(key: str, value: Any) -> tuple[date, ...]:
    if not isinstance(value, list):
        raise ConfigError(f'{key}: must be a list of dates like ["2026-12-24"]')
    out = []
    for item in value:
        if isinstance(item, datetime):
            raise ConfigError(
                f"{key}: {item.isoformat()} is a date-time; give the day, like 2026-12-24"
            )
        if isinstance(item, date):
            out.append(item)
            continue
        try:
            out.append(date.fromisoformat(str(item)))
        except ValueError:
            raise ConfigError(f"{key}: {item!r} is not a date like 2026-12-24") from None
    return tuple(out)


def _mail(table: Mapping[str, Any]) -> MailConfig:
    _known(table, "mail.", {f.name for f in fields(MailConfig)})
    scalars: dict[str, Validator] = {
        "address": _email,
        "from_name": _str,
        "message_id_domain": _str,
        "max_message_bytes": _positive_int,
        "ack_per_sender_per_day": _positive_int,
        "bounce_memory_days": _positive_int,
        "acks_per_hour": _positive_int,
        "authserv_id": lambda key, value: "" if value == "" else _str(key, value),
    }
    values: dict[str, Any] = {
        key: check(f"mail.{key}", table[key]) for key, check in scalars.items() if key in table
    }
    if "own_addresses" in table:
        raw = table["own_addresses"]
        if not isinstance(raw, list):
            raise ConfigError("mail.own_addresses: must be a list of addresses")
        values["own_addresses"] = tuple(_email("mail.own_addresses", a) for a in raw)
    elif "address" in values:
        values["own_addresses"] = (values["address"],)
    if "address" in values and values["address"] not in values["own_addresses"]:
        values["own_addresses"] = (*values["own_addresses"], values["address"])
    if "imap" in table:
        values["imap"] = _server(
            table,
            "imap",
            ImapConfig,
            {
                "folder": _str,
                "processed_folder": _str,
                "idle": _bool,
                "poll_seconds": _positive_int,
                "idle_renew_seconds": _positive_int,
                "after": _choice("move", "flag"),
                "max_attempts": _positive_int,
                "quarantine_folder": _str,
                "fetch_batch_bytes": _positive_int,
            },
        )
        if values["imap"].idle_renew_seconds > 29 * 60:
            raise ConfigError("mail.imap.idle_renew_seconds: at most 1740 (RFC 2177: 29 min)")
    if "smtp" in table:
        values["smtp"] = _server(
            table,
            "smtp",
            SmtpConfig,
            {
                "retry_base_seconds": _positive_number,
                "max_attempts": _positive_int,
            },
        )
    return MailConfig(**values)


def _server(table: Mapping[str, Any], name: str, cls: type[T], extra: Mapping[str, Validator]) -> T:
    section = table[name]
    if not isinstance(section, dict):
        raise ConfigError(f"mail.{name}: must be a table ([mail.{name}])")
    spec: dict[str, Validator] = {
        "host": _str,
        "port": _port,
        "security": _choice(*SECURITY_MODES),
        "user": _any_str,
        "timeout_seconds": _positive_int,
        **extra,
    }
    _known(section, f"mail.{name}.", set(spec))
    if "host" not in section:
        raise ConfigError(f"mail.{name}.host: required")
    values = {
        key: check(f"mail.{name}.{key}", section[key])
        for key, check in spec.items()
        if key in section
    }
    if values.get("security") == "none" and values["host"] not in LOOPBACK:
        raise ConfigError(
            f"mail.{name}.security: 'none' is only allowed on loopback "
            "(127.0.0.1, ::1, localhost); use 'tls' or 'starttls'"
        )
    return cls(**values)


def _choice(*allowed: str) -> Validator:
    def check(key: str, value: Any) -> str:
        if value not in allowed:
            raise ConfigError(f"{key}: must be one of {', '.join(allowed)}, got {value!r}")
        return str(value)

    return check


def _url(key: str, value: Any) -> str:
    text = _str(key, value)
    if not text.startswith(("http://", "https://")):
        raise ConfigError(f"{key}: must be an http:// or https:// URL, got {text!r}")
    return text


def _network(key: str, value: Any) -> str:
    if value == "":
        return ""
    text = _str(key, value)
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ConfigError(
            f"{key}: must be an IP address or network, like '127.0.0.1' or '10.0.0.0/8'"
        ) from None
    return text


def _origins(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f'{key}: must be a list like ["https://chat.city.example"]')
    out = []
    for item in value:
        text = _url(key, item).rstrip("/")
        if text.count("/") != 2:
            raise ConfigError(f"{key}: {text!r} must be an origin (scheme://host[:port]), no path")
        out.append(text.lower())
    return tuple(out)


def require_secrets(config: Config) -> None:
    """Secrets a configured feature cannot run without (checked by `serve` and `config check`).

    A webhook without a secret token would accept forged updates from anyone who finds the URL.
    """
    if config.telegram.mode == "webhook" and not config.telegram.webhook_secret:
        raise ConfigError(
            "telegram.mode: webhook mode needs CAREDESK_TELEGRAM_WEBHOOK_SECRET set in the "
            "environment (a random string; Telegram sends it back with every update)"
        )


def _spacing(key: str, value: Any) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise ConfigError(f"{key}: must be two numbers of business days, like [5, 5]")
    first, second = (_positive_int(key, v) for v in value)
    return (first, second)


def _positive_number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{key}: must be a positive number, got {value!r}")
    return float(value)


def _port(key: str, value: Any) -> int:
    port = _positive_int(key, value)
    if port > 65535:
        raise ConfigError(f"{key}: must be a port number (1-65535), got {port}")
    return port


def _any_str(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: must be a string")
    return value.strip()


def _email(key: str, value: Any) -> str:
    text = _str(key, value).lower()
    if "@" not in text or any(c.isspace() for c in text) or text.count("@") != 1:
        raise ConfigError(f"{key}: {text!r} is not an email address")
    return text


def _non_negative_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key}: must be a whole number of at least 0, got {value!r}")
    return value


_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _ombudsman_office(table: Mapping[str, Any]) -> OmbudsmanOfficeConfig:
    _known(table, "ombudsman.", {"domains", "clerk_email"})
    values: dict[str, Any] = {}
    if "domains" in table:
        raw = table["domains"]
        if not isinstance(raw, list):
            raise ConfigError(
                'ombudsman.domains: must be a list of domains, e.g. ["ombudsman.on.ca"]'
            )
        domains = []
        for item in raw:
            text = _str("ombudsman.domains", item).lower().rstrip(".")
            if not _DOMAIN.match(text):
                raise ConfigError(f"ombudsman.domains: {text!r} is not a domain name")
            domains.append(text)
        values["domains"] = tuple(domains)
    if "clerk_email" in table:
        value = table["clerk_email"]
        values["clerk_email"] = "" if value == "" else _email("ombudsman.clerk_email", value)
    return OmbudsmanOfficeConfig(**values)


def _check_holidays(city: CityConfig) -> None:
    """Ask the holidays package now, so a wrong country is a config error, not a crash later."""
    try:
        holidays.country_holidays(city.holiday_country, subdiv=city.holiday_subdiv, years=2026)
    except NotImplementedError as exc:
        key = "city.holiday_subdiv" if "ubdiv" in str(exc) else "city.holiday_country"
        raise ConfigError(f"{key}: {exc}") from None


def _phrases(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{key}: must be a list of non-empty strings")
    return tuple(v.strip().lower() for v in value)


def _contact(table: Mapping[str, Any], name: str, default: Contact) -> Contact:
    section = table.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"contact.{name}: must be a table ([contact.{name}])")
    allowed = {f.name for f in fields(Contact)}
    _known(section, f"contact.{name}.", allowed)
    values = {f.name: getattr(default, f.name) for f in fields(Contact)}
    for key, value in section.items():
        values[key] = _str(f"contact.{name}.{key}", value)
    return Contact(**values)


def _sla(table: Mapping[str, Any]) -> dict[str, SlaRule]:
    rules = dict(DEFAULT_SLA)
    for kind, value in table.items():
        key = f"sla.{kind}"
        if kind not in DEFAULT_SLA:
            raise ConfigError(f"{key}: unknown SLA kind (known: {', '.join(DEFAULT_SLA)})")
        if isinstance(value, dict):
            _known(value, f"{key}.", {"days", "unit"})
            days = _positive_int(f"{key}.days", value.get("days"))
            unit = value.get("unit", "business")
            if unit not in ("business", "calendar"):
                raise ConfigError(f"{key}.unit: must be 'business' or 'calendar', got {unit!r}")
            rules[kind] = SlaRule(days, unit)
        else:
            default_unit = rules[kind].unit if kind in rules else "business"
            rules[kind] = SlaRule(_positive_int(key, value), default_unit)
    return rules


def _two_person(value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise ConfigError("review.two_person: must be a list of reply kinds")
    for kind in value:
        if kind not in DEFAULT_REVIEW:
            raise ConfigError(
                f"review.two_person: unknown reply kind {kind!r} "
                f"(known: {', '.join(DEFAULT_REVIEW)})"
            )
    return frozenset(value)


def _review(table: Mapping[str, Any]) -> dict[str, str]:
    review = dict(DEFAULT_REVIEW)
    for kind, mode in table.items():
        key = f"review.{kind}"
        if kind not in DEFAULT_REVIEW:
            raise ConfigError(f"{key}: unknown reply kind (known: {', '.join(DEFAULT_REVIEW)})")
        if mode not in REVIEW_MODES:
            raise ConfigError(f"{key}: must be 'auto' or 'review', got {mode!r}")
        if kind in ALWAYS_REVIEWED and mode == "auto":
            raise ConfigError(
                f"{key}: the policy requires a person to vet this reply; use 'review'"
            )
        review[kind] = mode
    return review


# ---------------------------------------------------------------------------------------------
# Departments and routing (issue 12; POLICY.md 04.02: every complaint goes to the department
# responsible). A department says where its cases are forwarded; routing rules, tried in
# order, say which department a case is for (bot/routing.py evaluates them).

#: How a department's cases reach it: the city's Open311 GeoReport v2 endpoint, a JSON
#: webhook, an email to the department's address, or not at all (staff forward by hand).
TRACKER_KINDS = ("open311", "webhook", "email", "none")
#: The out-of-scope categories of the policy chain (bot/policy.py REDIRECTS; a test checks).
SCOPE_CATEGORIES = ("council", "appeal", "employee", "legislation")
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class Department:
    """One department of the city: where its cases go, and whom escalations copy (POLICY.md:
    the 3rd request copies the Supervisor/Division Head, the 4th the Director)."""

    key: str  # stable id stored on cases: "transportation"
    name: str  # shown to staff: "Transportation Services"
    email: str = ""  # the department's own address (and the target of `tracker = "email"`)
    tracker: str = "none"  # open311 | webhook | email | none
    #: tracker = "open311": the GeoReport v2 base URL (…/v2/), the jurisdiction_id when the
    #: server wants one, and the service_code used when no category mapping says otherwise.
    #: The API key comes from the environment, never from this file.
    open311_url: str = ""
    open311_jurisdiction_id: str = ""
    open311_service_code: str = ""
    #: tracker = "webhook": where the case is POSTed as JSON (the signing secret comes from
    #: the environment).
    webhook_url: str = ""
    #: tracker = "open311": the service_code per caredesk category: a routing rule's name (the
    #: rule that routed the case) or a case kind ("hazard"); else `open311_service_code`.
    open311_service_codes: Mapping[str, str] = field(default_factory=dict)
    #: A link staff can open to the department's ticket, with "{id}" for its id
    #: ("https://311.city.example/requests/{id}"); empty: no link, the id only.
    link: str = ""
    #: Send the resident's name, email and phone with the forward. Off by default: the
    #: department can act without them, and they are personal data (POLICY.md 03.01).
    share_contact: bool = False
    supervisor_name: str = ""
    supervisor_email: str = ""
    director_name: str = ""
    director_email: str = ""


@dataclass(frozen=True)
class RoutingRule:
    """One row of the routing table: every condition given must hold (a list holds when any
    of its entries does); a rule with no condition routes every case that reaches it."""

    name: str
    department: str  # a Department.key
    description: str = ""
    kinds: tuple[str, ...] = ()  # decided kinds (bot.model.Kind values)
    categories: tuple[str, ...] = ()  # out-of-scope categories
    hazard: bool | None = None  # True: hazards only; False: no hazards; None: either
    #: Phrases in what the resident wrote, matched as the policy's phrases are (bot/phrases.py):
    #: whole words, and not when negated ("no pothole").
    phrases: tuple[str, ...] = ()


_DEPARTMENT_KEYS = {f.name for f in fields(Department)}
_ROUTING_KEYS = {f.name for f in fields(RoutingRule)}


def _list_of_tables(value: Any, name: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{name}: must be a list of tables ([[{name}]])")
    return value


def _key(key: str, value: Any) -> str:
    text = _str(key, value)
    if not set(text) <= _KEY_CHARS:
        raise ConfigError(
            f"{key}: {text!r} must be lower-case letters, digits, '-' or '_', like 'roads'"
        )
    return text


def _departments(value: Any) -> tuple[Department, ...]:
    out: list[Department] = []
    for n, table in enumerate(_list_of_tables(value, "departments"), start=1):
        at = f"departments[{n}]"
        _known(table, f"{at}.", _DEPARTMENT_KEYS)
        for required in ("key", "name"):
            if required not in table:
                raise ConfigError(f"{at}.{required}: required")
        values: dict[str, Any] = {"key": _key(f"{at}.key", table["key"])}
        at = f"departments.{values['key']}"
        values["tracker"] = _choice(*TRACKER_KINDS)(f"{at}.tracker", table.get("tracker", "none"))
        for name in ("name", "open311_jurisdiction_id", "open311_service_code"):
            if name in table:
                values[name] = _any_str(f"{at}.{name}", table[name])
        for name in ("supervisor_name", "director_name"):
            if name in table:
                values[name] = _any_str(f"{at}.{name}", table[name])
        for name in ("email", "supervisor_email", "director_email"):
            if table.get(name, "") != "":
                values[name] = _email(f"{at}.{name}", table[name])
        for name in ("open311_url", "webhook_url"):
            if table.get(name, "") != "":
                values[name] = _url(f"{at}.{name}", table[name])
        if table.get("link", "") != "":
            link = _url(f"{at}.link", table["link"])
            if "{id}" not in link:
                raise ConfigError(f"{at}.link: must contain {{id}}, where the ticket's id goes")
            values["link"] = link
        if "share_contact" in table:
            values["share_contact"] = _bool(f"{at}.share_contact", table["share_contact"])
        if "open311_service_codes" in table:
            codes = _table(table, "open311_service_codes")
            values["open311_service_codes"] = {
                str(k): _str(f"{at}.open311_service_codes.{k}", v) for k, v in codes.items()
            }
        if not values.get("name"):
            raise ConfigError(f"{at}.name: must be a non-empty string")
        if any(d.key == values["key"] for d in out):
            raise ConfigError(f"{at}.key: {values['key']!r} is used by two departments")
        needs = {"open311": "open311_url", "webhook": "webhook_url", "email": "email"}
        need = needs.get(values["tracker"])
        if need and not values.get(need):
            raise ConfigError(f"{at}.{need}: required when tracker = {values['tracker']!r}")
        out.append(Department(**values))
    return tuple(out)


def _routing(value: Any, departments: tuple[Department, ...]) -> tuple[RoutingRule, ...]:
    from bot.model import Kind  # the nouns, a leaf module

    keys = [d.key for d in departments]
    kinds = [k.value for k in Kind]
    out: list[RoutingRule] = []
    for n, table in enumerate(_list_of_tables(value, "routing"), start=1):
        at = f"routing[{n}]"
        _known(table, f"{at}.", _ROUTING_KEYS)
        for required in ("name", "department"):
            if required not in table:
                raise ConfigError(f"{at}.{required}: required")
        name = _key(f"{at}.name", table["name"])
        at = f"routing.{name}"
        if any(r.name == name for r in out):
            raise ConfigError(f"{at}: two routing rules have this name")
        department = _str(f"{at}.department", table["department"])
        if department not in keys:
            known = ", ".join(keys) or "none are configured in [[departments]]"
            raise ConfigError(f"{at}.department: unknown department {department!r} ({known})")
        values: dict[str, Any] = {"name": name, "department": department}
        if "description" in table:
            values["description"] = _any_str(f"{at}.description", table["description"])
        for field_name, allowed in (("kinds", kinds), ("categories", SCOPE_CATEGORIES)):
            if field_name in table:
                listed = _phrases(f"{at}.{field_name}", table[field_name])
                for item in listed:
                    if item not in allowed:
                        raise ConfigError(
                            f"{at}.{field_name}: unknown {item!r} (known: {', '.join(allowed)})"
                        )
                values[field_name] = listed
        if "hazard" in table:
            values["hazard"] = _bool(f"{at}.hazard", table["hazard"])
        if "phrases" in table:
            values["phrases"] = _phrases(f"{at}.phrases", table["phrases"])
        out.append(RoutingRule(**values))
    return tuple(out)
