"""`crmcal run`, `crmcal worker`, `crmcal beat` (registered on the main Typer app by crmcal.cli)."""

from __future__ import annotations

import os
import signal
import socket
import threading
from pathlib import Path
from typing import Annotated

import typer

from crmcal.cli._shared import ConfigOption, _load, console, setup_logging


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(worker)
    app.command()(beat)


def _prepare(config: Path | None) -> None:
    """Load (and check) the configuration; make it the one Celery's processes read."""
    if config is not None:
        os.environ["CRMCAL_CONFIG"] = str(config)


def run(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option(help="Run one cycle and exit.")] = False,
) -> None:
    """Sync every user every `interval_minutes`, in this process (SQLite or PostgreSQL)."""
    from crmcal.service.runner import build_calendar, build_crm
    from crmcal.service.scheduler import Scheduler
    from crmcal.state import StateStore

    cfg = _load(config)
    setup_logging(cfg)  # text lines as before, or JSON with logging.json (secrets redacted)
    # One connection per session thread, plus the heartbeat and the cycle's own reads.
    store = StateStore(cfg.storage.url(), pool_size=cfg.scheduler.global_concurrency + 4)
    if not store.is_current():
        store.migrate()
    calendar, crm = build_calendar(cfg), build_crm(cfg)
    sched = Scheduler(cfg, store=store, calendar=calendar, crm=crm)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    console.print(
        f"crmcal run: {len(cfg.users)} users, every {cfg.org.interval_minutes} min, "
        f"{cfg.scheduler.global_concurrency} sessions at once (Ctrl+C stops)"
    )
    try:
        n = sched.serve(stop, max_cycles=1 if once else None)
        console.print(f"{n} cycle(s) run")
    except KeyboardInterrupt:
        pass
    finally:
        calendar.close()
        crm.close()
        store.dispose()


def worker(
    config: ConfigOption = None,
    concurrency: Annotated[
        int | None,
        typer.Option(help="Sessions at once in this worker (default: [scheduler] global)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Worker node name.")] = None,
) -> None:
    """A Celery worker that runs user sessions (broker: the `celery.broker_url` setting)."""
    _prepare(config)
    cfg = _load(config)
    from crmcal.service.celery_app import configure

    app = configure(cfg, threads=concurrency or cfg.scheduler.global_concurrency)
    if cfg.logging.json_format:  # before Celery's own set-up, which then leaves the root alone
        setup_logging(cfg)
    console.print(f"crmcal worker: broker {cfg.celery.safe_url()}, queue {cfg.celery.queue}")
    app.worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency or cfg.scheduler.global_concurrency}",
            f"--queues={cfg.celery.queue}",
            f"--hostname={name or 'crmcal@' + socket.gethostname()}",
            f"--loglevel={cfg.logging.level.value}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def beat(config: ConfigOption = None) -> None:
    """The Celery beat that starts a cycle every `interval_minutes` (run exactly one)."""
    _prepare(config)
    cfg = _load(config)
    from crmcal.service.celery_app import configure

    app = configure(cfg)
    if cfg.logging.json_format:
        setup_logging(cfg)
    schedule = cfg.storage.data_dir / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    console.print(
        f"crmcal beat: broker {cfg.celery.safe_url()}, every {cfg.org.interval_minutes} min"
    )
    app.start(["beat", f"--schedule={schedule}", f"--loglevel={cfg.logging.level.value}"])
