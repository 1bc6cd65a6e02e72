"""What `/campaigns/data_series` reports per channel, and which recorded kinds feed each field.

A recorded kind (`sent`, `delivered`, `opened`, ...) is counted per (campaign, variation,
channel, local day) twice: every occurrence (`total`) and distinct users (`uniques`). Each
channel's stat field reads one of the two for one kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from heron.campaigns.definition import PUSH_CHANNELS

__all__ = [
    "ENROLLED",
    "RECIPIENTS",
    "SENT",
    "SERIES_KEYS",
    "STATS",
    "Stat",
    "kinds_for",
]

SENT = "sent"  # a message received (record_sends)
ENROLLED = "enrolled"  # a user put in a control group (record_sends on a control variation)
RECIPIENTS = "recipients"  # campaign-wide distinct recipients (variation "" and channel "")


@dataclass(frozen=True, slots=True)
class Stat:
    """One field of a channel's per-variation entry: the kind it counts, all or distinct users."""

    field: str
    kind: str
    unique: bool = False


_PUSH = (
    Stat("sent", SENT),
    Stat("direct_opens", "direct_opened"),
    Stat("total_opens", "opened"),
    Stat("bounces", "bounced"),
    Stat("body_clicks", "clicked"),
)

STATS: dict[str, tuple[Stat, ...]] = {
    **{channel: _PUSH for channel in PUSH_CHANNELS},
    "email": (
        Stat("sent", SENT),
        Stat("opens", "opened"),
        Stat("unique_opens", "opened", unique=True),
        Stat("clicks", "clicked"),
        Stat("unique_clicks", "clicked", unique=True),
        Stat("unsubscribes", "unsubscribed"),
        Stat("bounces", "bounced"),
        Stat("delivered", "delivered"),
        Stat("reported_spam", "reported_spam"),
    ),
    "webhook": (Stat("sent", SENT), Stat("errors", "errored")),
    "sms": (
        Stat("sent", SENT),
        Stat("sent_to_carrier", "sent_to_carrier"),
        Stat("delivered", "delivered"),
        Stat("rejected", "rejected"),
        Stat("delivery_failed", "delivery_failed"),
        Stat("clicks", "clicked"),
        Stat("opt_out", "opted_out"),
        Stat("help", "help"),
    ),
    "content_cards": (
        Stat("sent", SENT),
        Stat("total_clicks", "clicked"),
        Stat("total_dismissals", "dismissed"),
        Stat("total_impressions", "impression"),
        Stat("unique_clicks", "clicked", unique=True),
        Stat("unique_dismissals", "dismissed", unique=True),
        Stat("unique_impressions", "impression", unique=True),
    ),
    # multivariate in-app messages; revenue and conversions* are added from attribution
    "in-app_message": (
        Stat("impressions", "impression"),
        Stat("clicks", "clicked"),
        Stat("first_button_clicks", "first_button_clicked"),
        Stat("second_button_clicks", "second_button_clicked"),
        Stat("unique_recipients", SENT, unique=True),
    ),
}

# The key of a channel under `messages` in /campaigns/data_series.
SERIES_KEYS: dict[str, str] = {channel: channel for channel in STATS}
SERIES_KEYS["in-app_message"] = "trigger_in_app_message"


def kinds_for(channel: str) -> frozenset[str]:
    """The engagement kinds a channel can record (everything but `sent`)."""
    return frozenset(stat.kind for stat in STATS[channel] if stat.kind != SENT)
