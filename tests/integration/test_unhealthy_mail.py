"""I3: after 10 failed sessions in a row, or at once when credentials are refused, the user and
the admins get one mail through Graph `sendMail` (read back through the emulator's control API),
and no other until the user has recovered and failed anew."""

from __future__ import annotations

from typing import Any

import httpx

from crmcal.config import Config
from crmcal.connectors.retry import RetryPolicy
from crmcal.connectors.salesforce import SalesforceClient
from crmcal.connectors.tls import verify_of
from crmcal.service.runner import run_sync
from crmcal.state import StateStore
from tests.integration.conftest import DOMAIN, World

ANA, BEN, BOSS = f"ana@{DOMAIN}", f"ben@{DOMAIN}", f"boss@{DOMAIN}"
NO_RETRY = RetryPolicy(max_attempts=1, sleep=lambda _s: None)


def setup(world: World, **org: Any) -> None:
    world.person(ANA)
    world.person(BEN)
    world.person(BOSS, crmcal=False)
    world.org = world.org.model_copy(update=org)


def config(world: World, admins: tuple[str, ...] = ()) -> Config:
    cfg = world.config()
    return cfg.model_copy(update={"web": cfg.web.model_copy(update={"admins": admins})})


def cycle(world: World, cfg: Config, crm: SalesforceClient | None = None) -> list[str]:
    if world.store is None:
        world.store = StateStore(cfg.storage.url())
        world.store.migrate()
    results = run_sync(
        cfg, store=world.store, calendar=world.calendar, crm=crm or world.crm, now=world.now
    )
    return [r.status for r in results]


def mail(world: World) -> list[dict[str, Any]]:
    r = httpx.get(f"{world.sb.graph_url}/_sandbox/mail")
    assert r.status_code == 200
    got: list[dict[str, Any]] = r.json()["value"]
    return got


def wrong_secret(world: World) -> SalesforceClient:
    return SalesforceClient(
        login_url=world.sb.salesforce_url, client_id=world.sb.sf_client_id,
        auth="client_credentials", client_secret="wrong", retry=NO_RETRY,
        verify=verify_of(world.sb.tls.ca),
    )  # fmt: skip


def test_I3_ten_failures_give_one_mail_per_incident(world: World) -> None:
    setup(world, unhealthy_mail_admins=(BOSS,))
    cfg = config(world)
    assert cycle(world, cfg) == ["succeeded", "succeeded"]
    world._crm = SalesforceClient(
        login_url=world.sb.salesforce_url, client_id=world.sb.sf_client_id,
        auth="client_credentials", client_secret=world.sb.sf_secret, retry=NO_RETRY,
        verify=verify_of(world.sb.tls.ca),
    )  # fmt: skip
    world.sb.salesforce.faults.fail_next = 10**6  # an outage: every session fails
    for _ in range(9):
        assert cycle(world, cfg) == ["failed", "failed"]
    assert mail(world) == []  # 9 in a row: not yet
    cycle(world, cfg)  # the 10th
    sent = mail(world)
    assert sorted(m["toRecipients"][0] for m in sent) == [ANA, BEN]
    for m in sent:
        assert m["ccRecipients"] == [BOSS] and m["sender"] == m["toRecipients"][0]
        assert "stopped" in m["subject"] and "Failed sessions in a row: 10" in m["body"]["content"]
    for _ in range(3):
        cycle(world, cfg)
    assert len(mail(world)) == 2  # one per incident, however long it lasts

    world.sb.salesforce.faults.fail_next = 0  # recovered
    assert cycle(world, cfg) == ["succeeded", "succeeded"]
    assert len(mail(world)) == 2
    world.sb.salesforce.faults.fail_next = 10**6  # a new incident
    for _ in range(10):
        cycle(world, cfg)
    assert len(mail(world)) == 4


def test_I3_refused_credentials_mail_at_once_from_the_user_to_web_admins(world: World) -> None:
    """Defaults: sent from the user's own mailbox; admins are `web.admins`."""
    setup(world)
    cfg = config(world, admins=(BOSS,))
    assert cycle(world, cfg, wrong_secret(world)) == ["failed", "failed"]
    sent = mail(world)
    assert sorted((m["sender"], m["toRecipients"][0]) for m in sent) == [(ANA, ANA), (BEN, BEN)]
    assert all(m["ccRecipients"] == [BOSS] for m in sent)
    cycle(world, cfg, wrong_secret(world))
    assert len(mail(world)) == 2


def test_I3_sender_and_admin_settings_change_the_mail(world: World) -> None:
    """`org.unhealthy_mail_sender` and `org.unhealthy_mail_admins` win over the defaults."""
    noreply = f"crmcal@{DOMAIN}"
    world.sb.graph.add_user(noreply)
    setup(world, unhealthy_mail_sender=noreply, unhealthy_mail_admins=(f"ops@{DOMAIN}",))
    cfg = config(world, admins=(BOSS,))
    cycle(world, cfg, wrong_secret(world))
    sent = mail(world)
    assert len(sent) == 2
    assert all(m["sender"] == noreply and m["ccRecipients"] == [f"ops@{DOMAIN}"] for m in sent)


def test_I3_setting_off_sends_nothing(world: World) -> None:
    setup(world, notify_unhealthy_by_email=False)
    cfg = config(world, admins=(BOSS,))
    cycle(world, cfg, wrong_secret(world))
    assert mail(world) == []
    assert world.store is not None and world.store.health(ANA).unhealthy  # type: ignore[union-attr]


def test_I3_a_mail_graph_refused_is_sent_after_the_next_cycle(world: World) -> None:
    """The mark is set only once Graph accepted the mail (a sender that does not exist: 404)."""
    setup(world, unhealthy_mail_sender=f"nobody@{DOMAIN}")
    cfg = config(world)
    cycle(world, cfg, wrong_secret(world))
    assert mail(world) == []
    assert world.store is not None and [r.mailbox for r in world.store.unhealthy_to_notify()] == [
        ANA,
        BEN,
    ]
    world.sb.graph.add_user(f"nobody@{DOMAIN}")
    cycle(world, cfg, wrong_secret(world))
    assert len(mail(world)) == 2 and world.store.unhealthy_to_notify() == []
