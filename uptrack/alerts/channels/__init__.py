"""The registry of channel kinds: adding one is a module here and one line below."""

from __future__ import annotations

from typing import Any

from uptrack.alerts.channel import Channel
from uptrack.alerts.channels import (
    discord,
    email,
    gotify,
    ntfy,
    opsgenie,
    pagerduty,
    pushover,
    slack,
    teams,
    telegram,
    webhook,
)

CHANNELS: dict[str, Channel[Any]] = {
    channel.name: channel
    for channel in (
        webhook.CHANNEL,
        slack.CHANNEL,
        discord.CHANNEL,
        telegram.CHANNEL,
        teams.CHANNEL,
        pagerduty.CHANNEL,
        opsgenie.CHANNEL,
        ntfy.CHANNEL,
        pushover.CHANNEL,
        gotify.CHANNEL,
        email.CHANNEL,
    )
}

__all__ = ["CHANNELS", "Channel"]
