"""`crmcal config show|check|reference`."""

from __future__ import annotations

from crmcal.cli._shared import ConfigOption, _load, config_app, console


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the effective configuration as JSON, secrets masked."""
    cfg = _load(config)
    console.print_json(cfg.model_dump_json(by_alias=True))


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Validate the configuration; exit 2 with every bad key named when it is invalid."""
    cfg = _load(config)
    console.print(f"[green]configuration is valid[/] ({len(cfg.users)} users)")


@config_app.command("reference")
def config_reference() -> None:
    """Print the configuration reference (Markdown) generated from the code."""
    from crmcal.config import reference_markdown

    print(reference_markdown())
