"""How ``/sellapp status`` and the triage commands put the triage settings (pure)."""

from __future__ import annotations

from bot.store.triage import TriageSettings


def triage_words(settings: TriageSettings, *, missing_tags: list[str]) -> str:
    role = f"<@&{settings.notify_role_id}>" if settings.notify_role_id else "off"
    hours = settings.hours.words() if settings.hours is not None else "always (no hours set)"
    sla = f"{settings.sla_minutes} min" if settings.sla_minutes else "off"
    digest = (
        f"<#{settings.digest_channel_id}> at {settings.digest_hour:02d}:00 ({settings.timezone})"
        if settings.digest_channel_id is not None and settings.digest_hour is not None
        else "off"
    )
    lines = [
        f"New-ticket alerts: {role}",
        f"Support hours: {hours}",
        f"Reminder after: {sla}",
        f"Daily digest: {digest}",
    ]
    if missing_tags:
        lines.append(
            "Create these forum tags (the bot may not): "
            + ", ".join(f"*{t}*" for t in missing_tags)
        )
    return "\n".join(lines)
