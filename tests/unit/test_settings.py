"""Settings: every default equals SPEC.md's; bad configuration fails with the key named; secrets
never print (Y1)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from crmcal.config import Config, ConfigError, load_config
from crmcal.domain import FREE_MAIL_DOMAINS, OrgSettings, UserSettings
from crmcal.domain.settings import Blocklist, CalendarObject, UserConfig

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "SPEC.md"


def _spec_text() -> str:
    if not SPEC.exists():
        pytest.skip(f"{SPEC} is not beside the project")
    return " ".join(SPEC.read_text(encoding="utf-8").split())


def spec_defaults() -> dict[str, str]:
    """Every `name=value` and "`name` ... default X" that SPEC.md states, as written there."""
    text = _spec_text()
    found: dict[str, str] = {}
    for m in re.finditer(r"`([a-z_]+)=([^`]+)`", text):
        found[m.group(1)] = m.group(2)
    for m in re.finditer(r"`([a-z_]+)` = `([a-z_]+)` \(default\)", text):
        found.setdefault(m.group(1), m.group(2))
    for m in re.finditer(
        r"`([a-z_]+)`[^`.;]{0,40}?defaults? (?:is )?(`[^`]+`|true|false|\d+)", text
    ):
        found.setdefault(m.group(1), m.group(2).strip("`"))
    return found


def _as_spec(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_spec_defaults_are_found() -> None:
    """Guard against the parser silently finding nothing."""
    assert len(spec_defaults()) >= 20


@pytest.mark.parametrize("name", sorted(spec_defaults()) if SPEC.exists() else [])
def test_every_setting_default_equals_spec(name: str) -> None:
    expected = spec_defaults()[name]
    org, user = OrgSettings(), UserSettings()
    if name in OrgSettings.model_fields:
        actual = getattr(org, name)
    elif name in UserSettings.model_fields:
        actual = getattr(user, name)
    else:
        pytest.fail(
            f"SPEC.md names setting `{name}` but neither OrgSettings nor UserSettings has it"
        )
    assert _as_spec(actual) == expected, f"{name}: SPEC says {expected}, crmcal has {actual}"


def test_every_setting_spec_names_exists() -> None:
    """Settings SPEC.md names without a default (e.g. `autoshare_meetings`) exist too."""
    text = _spec_text()
    names = set(re.findall(r"(?:settings?|setting) `([a-z_]+)`", text))
    names |= {"autoshare_meetings", "autoshare_appointments", "calendar_objects", "event_defaults"}
    fields = set(OrgSettings.model_fields) | set(UserSettings.model_fields)
    assert names - fields == set()


def test_G3_direction_default_is_both() -> None:
    assert UserSettings().direction == "both"


def test_A5_free_mail_domains_blocklisted_by_default() -> None:
    org = OrgSettings()
    assert {"gmail.com", "outlook.com", "yahoo.com"} <= set(FREE_MAIL_DOMAINS)
    assert org.is_blocklisted("Someone@GMail.com")
    assert not org.is_blocklisted("buyer@fabrikam.example")
    assert not OrgSettings(block_free_mail_domains=False).is_blocklisted("someone@gmail.com")


def test_A5_org_and_user_lists_of_addresses_and_domains() -> None:
    org = OrgSettings(
        blocklist=Blocklist(addresses=("Noise@Vendor.example",), domains=("spam.example",))
    )
    user = UserSettings(blocklist=Blocklist(domains=("Family.example",)))
    assert org.is_blocklisted("noise@vendor.example")
    assert not org.is_blocklisted("other@vendor.example")
    assert org.is_blocklisted("x@spam.example")
    assert not org.is_blocklisted("x@family.example")
    assert org.is_blocklisted("x@family.example", user)


def test_U2_safe_description_user_override() -> None:
    org = OrgSettings()
    assert UserSettings().effective_safe_description(org) is True
    assert UserSettings(safe_description=False).effective_safe_description(org) is False
    assert UserSettings().effective_safe_description(OrgSettings(safe_description=False)) is False


def test_N1_max_all_day_hours_bounds() -> None:
    OrgSettings(max_all_day_hours=336)
    with pytest.raises(ValueError, match="less than or equal to 336"):
        OrgSettings(max_all_day_hours=337)


def test_G4_calendar_object_needs_one_kind_of_time() -> None:
    CalendarObject(object="Site_Visit__c", date_field="Visit_Date__c")
    CalendarObject(object="Opportunity", start_field="S__c", end_field="E__c")
    with pytest.raises(ValueError, match="either date_field"):
        CalendarObject(object="X__c")
    with pytest.raises(ValueError, match="needs end_field"):
        CalendarObject(object="X__c", start_field="S__c")


def test_settings_are_immutable() -> None:
    org = OrgSettings()
    with pytest.raises(ValueError, match="frozen"):
        org.window_past_days = 3  # type: ignore[misc]


# -- loading files ----------------------------------------------------------------------------

GOOD = """
[storage]
data_dir = "{data}"

[graph]
tenant_id = "11111111-2222-3333-4444-555555555555"
client_id = "app-1"
client_secret = "graph-S3CRET-value"

[salesforce]
auth = "client_credentials"
login_url = "https://acme.my.salesforce.com"
client_id = "3MVG-consumer"
client_secret_file = "{secret_file}"

[org]
internal_domains = ["Contoso.example"]
mass_delete_guard = 5

[org.event_defaults]
Type = "Meeting"

[[users]]
mailbox = "Ann@Contoso.example"
salesforce_user_id = "005000000000001AAA"

[users.settings]
autoshare_appointments = true
"""


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    secret = tmp_path / "sf.secret"
    secret.write_text("sf-S3CRET-value\n")
    f = tmp_path / "crmcal.toml"
    f.write_text(GOOD.format(data=tmp_path.as_posix(), secret_file=secret.as_posix()))
    return f


def test_good_file_loads(good_file: Path) -> None:
    cfg = load_config(good_file)
    assert cfg.org.internal_domains == ("contoso.example",)
    assert cfg.org.mass_delete_guard == 5
    assert cfg.org.event_defaults == {"Type": "Meeting"}
    assert cfg.org.window_future_days == 60
    [ann] = cfg.users
    assert ann.mailbox == "ann@contoso.example"
    assert ann.settings.autoshare_appointments is True
    assert cfg.salesforce.secret() is not None
    assert cfg.salesforce.secret().get_secret_value() == "sf-S3CRET-value"  # type: ignore[union-attr]
    assert cfg.storage.url().endswith("/crmcal.db")


def test_environment_overrides_file(good_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMCAL_ORG__MASS_DELETE_GUARD", "7")
    monkeypatch.setenv("CRMCAL_GRAPH__CLIENT_SECRET", "from-env")
    cfg = load_config(good_file)
    assert cfg.org.mass_delete_guard == 7
    assert cfg.graph.secret().get_secret_value() == "from-env"  # type: ignore[union-attr]


def test_config_file_from_environment(good_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMCAL_CONFIG", str(good_file))
    assert load_config().graph.client_id == "app-1"


BAD_CASES = [
    ("[org]\nwindow_future_days = 0\n", "org.window_future_days", "greater than or equal to 1"),
    ("[org]\nmass_delte_guard = 3\n", "org.mass_delte_guard", "unknown setting"),
    ("[org]\nautoshare_private = \"maybe\"\n", "org.autoshare_private", "valid boolean"),
    ("[org]\nautocreate = \"sometimes\"\n", "org.autocreate", "'off', 'contact', 'lead' or 'smart'"),
    ("[org]\nrecurrence_format = \"ical\"\n", "org.recurrence_format", "'classic' or 'lightning'"),
    ("[graph]\ngraph_url = \"ftp://x\"\n", "graph.graph_url", "http:// or https://"),
    ("[storage]\ndatabase_url = \"mysql://x\"\n", "storage.database_url", "sqlite:// or postgresql://"),
    ("[[users]]\nmailbox = \"nobody\"\nsalesforce_user_id = \"005000000000001AAA\"\n",
     "users[0].mailbox", "not an e-mail address"),
    ("[[users]]\nmailbox = \"a@b.example\"\nsalesforce_user_id = \"003000000000001AAA\"\n",
     "users[0].salesforce_user_id", "not a Salesforce User Id"),
    ("[[users]]\nmailbox = \"a@b.example\"\nsalesforce_user_id = \"005000000000001AAA\"\n"
     "[users.settings]\ndirection = \"sideways\"\n", "users[0].settings.direction", "'both'"),
    ("[salesforce]\napi_version = \"latest\"\n", "salesforce.api_version", "match pattern"),
    ("[graph]\nclient_secret_file = \"/nonexistent/secret\"\n", "graph.client_secret_file",
     "cannot read file"),
    ("[org\n", "config", "not valid TOML"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "key", "text"), BAD_CASES, ids=[c[1] for c in BAD_CASES])
def test_bad_config_names_key_and_problem(tmp_path: Path, body: str, key: str, text: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    keys = [k for k, _ in info.value.problems]
    assert key in keys, info.value.problems
    msg = dict(info.value.problems)[key]
    assert text in msg
    assert str(f) in str(info.value)
    assert f"{key}: " in str(info.value)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_duplicate_users_refused() -> None:
    u = UserConfig(mailbox="a@b.example", salesforce_user_id="005000000000001AAA")
    with pytest.raises(ValueError, match="listed twice"):
        Config(users=(u, u))


def test_Y1_secrets_never_printed(good_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Y1: secrets do not show up in repr, str, JSON dumps or logs of the configuration."""
    cfg = load_config(good_file)
    logging.getLogger("crmcal.test").warning("config is %s / %r", cfg, cfg)
    dumped = cfg.model_dump_json()
    for text in (repr(cfg), str(cfg), dumped, caplog.text, json.dumps(cfg.model_dump(mode="json"))):
        assert "graph-S3CRET-value" not in text
        assert "sf-S3CRET-value" not in text
    assert "**********" in dumped
