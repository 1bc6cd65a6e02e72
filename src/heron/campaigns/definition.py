"""A campaign's definition: msgspec Structs for its messages and conversion behaviours.

Decoding validates every field (types, enums, lengths) and a refusal names the bad field as a
JSON path (`$.messages['v1'].url`). The same Structs produce the OpenAPI schemas
(`heron.campaigns.docs`), so what the document allows is what the server accepts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

__all__ = [
    "BEHAVIOR_TYPES",
    "CHANNELS",
    "PUSH_CHANNELS",
    "Behavior",
    "CampaignDefinition",
    "Control",
    "DefinitionError",
    "Message",
    "channel_of",
    "decode_definition",
    "encode_definition",
    "load_definition",
]

MAX_NAME_LENGTH = 255
MAX_TAGS = 100
MAX_VARIATIONS = 100
MAX_BEHAVIORS = 4  # Braze's conversion events A to D
MAX_WINDOW_SECONDS = 30 * 86_400  # Braze's longest conversion deadline (30 days)
_NO_NUL = "^[^\\u0000]*$"

Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_LENGTH, pattern=_NO_NUL)]
Tag = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_LENGTH, pattern=_NO_NUL)]
Text = Annotated[str, Meta(pattern=_NO_NUL)]
# Explicit characters, not `\s`: Python's and ECMA's `\s` differ (U+001C-U+001F, U+0085),
# and the OpenAPI document must accept exactly what msgspec accepts.
Url = Annotated[str, Meta(pattern="^https?://[^ \\t\\n\\r\\f\\v\\x00]+$")]
AppId = Annotated[str, Meta(min_length=1, max_length=64, pattern=_NO_NUL)]
Window = Annotated[int, Meta(ge=1, le=MAX_WINDOW_SECONDS)]
Pairs = dict[str, str]

PUSH_CHANNELS = ("ios_push", "android_push", "kindle_push", "web_push")
CHANNELS = (
    *PUSH_CHANNELS,
    "email",
    "webhook",
    "sms",
    "content_cards",
    "in-app_message",
)
Channel = Literal[
    "ios_push",
    "android_push",
    "kindle_push",
    "web_push",
    "email",
    "webhook",
    "sms",
    "content_cards",
    "in-app_message",
]


class DefinitionError(ValueError):
    """A campaign definition that breaks a rule; the message names the field."""


class _Push(Struct, forbid_unknown_fields=True, omit_defaults=False):
    """Fields every push channel shares (Braze's details: alert, extras, title, action, images)."""

    name: Name
    alert: Text
    title: Text | None = None
    action: Text | None = None
    image_url: Url | None = None
    large_image_url: Url | None = None
    extras: Pairs = {}


class IosPush(_Push, tag_field="channel", tag="ios_push", kw_only=True):
    """An iOS push variation."""


class AndroidPush(_Push, tag_field="channel", tag="android_push", kw_only=True):
    """An Android push variation."""


class KindlePush(_Push, tag_field="channel", tag="kindle_push", kw_only=True):
    """A Kindle (FireOS) push variation."""


class WebPush(_Push, tag_field="channel", tag="web_push", kw_only=True):
    """A web push variation."""


class Email(Struct, tag_field="channel", tag="email", forbid_unknown_fields=True, kw_only=True):
    """An email variation: Braze's details fields for email."""

    name: Name
    subject: Text
    body: Text
    # the from address with its display name, e.g. "Heron <news@example.com>"
    from_: Annotated[str, Meta(min_length=3, pattern="^[^\\u0000]*@[^\\u0000]*$")] = msgspec.field(
        name="from"
    )
    reply_to: Text | None = None
    title: Text | None = None
    amp_body: Text | None = None
    preheader: Text | None = None
    custom_plain_text: Text | None = None
    should_inline_css: bool = False
    should_whitespace_header: bool = False
    email_headers: Pairs = {}
    extras: Pairs = {}


class Webhook(Struct, tag_field="channel", tag="webhook", forbid_unknown_fields=True, kw_only=True):
    """A webhook variation: URL, body and its content type, headers, HTTP method."""

    name: Name
    url: Url
    body: Text = ""
    type: Annotated[str, Meta(min_length=1, max_length=255, pattern="^[^\\u0000]*$")] = (
        "application/json"
    )
    headers: Pairs = {}
    method: Literal["POST", "GET", "PUT", "PATCH", "DELETE"] = "POST"


class Sms(Struct, tag_field="channel", tag="sms", forbid_unknown_fields=True, kw_only=True):
    """An SMS variation: body, sending numbers and the subscription group it targets."""

    name: Name
    body: Annotated[str, Meta(min_length=1, pattern=_NO_NUL)]
    subscription_group_id: Annotated[str, Meta(min_length=1, max_length=64, pattern=_NO_NUL)]
    from_: Text | None = msgspec.field(name="from", default=None)


class ContentCard(
    Struct, tag_field="channel", tag="content_cards", forbid_unknown_fields=True, kw_only=True
):
    """A content card variation (its key-value pairs are shown only when there are some)."""

    name: Name
    extras: Pairs = {}


class SurveyHeader(Struct, forbid_unknown_fields=True):
    """The header of a survey page."""

    text: Text


class SurveyChoice(Struct, forbid_unknown_fields=True, kw_only=True):
    """One answer of a survey page, optionally logged as a custom attribute."""

    choice_id: Annotated[str, Meta(min_length=1, max_length=64, pattern=_NO_NUL)]
    text: Text
    custom_attribute_key: Text | None = None
    custom_attribute_value: Text | None = None
    deleted: bool = False


class SurveyPage(Struct, forbid_unknown_fields=True, kw_only=True):
    """One page of a survey."""

    header: SurveyHeader
    choices: Annotated[list[SurveyChoice], Meta(min_length=1, max_length=12)]


class SurveyData(Struct, forbid_unknown_fields=True):
    """A survey's pages."""

    pages: Annotated[list[SurveyPage], Meta(min_length=1, max_length=10)]


class InAppMessage(
    Struct, tag_field="channel", tag="in-app_message", forbid_unknown_fields=True, kw_only=True
):
    """An in-app message variation; a `survey` carries its pages in `data`."""

    name: Name
    type: Literal["slideup", "modal", "full", "html", "survey"]
    message: Text | None = None
    header: Text | None = None
    data: SurveyData | None = None
    extras: Pairs = {}


Message = (
    IosPush
    | AndroidPush
    | KindlePush
    | WebPush
    | Email
    | Webhook
    | Sms
    | ContentCard
    | InAppMessage
)


class Control(Struct, forbid_unknown_fields=True, kw_only=True):
    """A control group: users enrolled in it receive nothing (`channel` is what it controls)."""

    channel: Channel
    type: Literal["control"]
    name: Name = "Control Group"


def channel_of(message: Message | Control) -> str:
    """The channel a variation is for."""
    if isinstance(message, Control):
        return message.channel
    return str(msgspec.inspect.type_info(type(message)).tag)  # type: ignore[attr-defined]


class _Behavior(Struct, forbid_unknown_fields=True, kw_only=True):
    """What every conversion behaviour has: its window in seconds."""

    window: Window


class ClicksEmail(_Behavior, tag_field="type", tag="Clicks Email"):
    """Converts when the recipient clicks the campaign's email."""


class OpensEmail(_Behavior, tag_field="type", tag="Opens Email"):
    """Converts when the recipient opens the campaign's email."""


class MakesAnyPurchase(_Behavior, tag_field="type", tag="Makes Any Purchase"):
    """Converts on any purchase."""


class MakesSpecificPurchase(_Behavior, tag_field="type", tag="Makes Specific Purchase"):
    """Converts on a purchase of one product."""

    product: Name


class PerformsCustomEvent(_Behavior, tag_field="type", tag="Performs Custom Event"):
    """Converts on one custom event."""

    custom_event_name: Name


class UpgradesApp(_Behavior, tag_field="type", tag="Upgrades App"):
    """Converts on an app upgrade (of these apps; null = any app)."""

    app_ids: list[AppId] | None = None


class StartsSession(_Behavior, tag_field="type", tag="Starts Session"):
    """Converts on a session start (in these apps; null = any app)."""

    app_ids: list[AppId] | None = None


Behavior = (
    ClicksEmail
    | OpensEmail
    | MakesAnyPurchase
    | MakesSpecificPurchase
    | PerformsCustomEvent
    | UpgradesApp
    | StartsSession
)
BEHAVIOR_TYPES = tuple(
    str(msgspec.inspect.type_info(kind).tag)  # type: ignore[attr-defined]
    for kind in Behavior.__args__
)


class CampaignDefinition(Struct, forbid_unknown_fields=True, kw_only=True):
    """Everything a campaign's owner sets; `messages` is keyed by message variation id."""

    name: Name
    description: Text = ""
    tags: Annotated[list[Tag], Meta(max_length=MAX_TAGS)] = []
    teams: Annotated[list[Tag], Meta(max_length=MAX_TAGS)] = []
    schedule_type: Literal["time_based", "action_based", "api_triggered"] = "time_based"
    is_api_campaign: bool = False
    draft: bool = False
    enabled: bool = True
    archived: bool = False
    # Message | Control per variation id (msgspec cannot mix the two tag fields in one union:
    # `load_definition` decodes each variation; `heron.campaigns.docs` documents the union)
    messages: Annotated[dict[str, Any], Meta(max_length=MAX_VARIATIONS)] = {}
    conversion_behaviors: Annotated[list[Behavior], Meta(max_length=MAX_BEHAVIORS)] = []


_RAW = msgspec.json.Decoder(dict[str, Any])
_ENCODER = msgspec.json.Encoder()


def _convert(value: Any, kind: Any, where: str) -> Any:
    """msgspec.convert with the error's path re-rooted at `where`."""
    try:
        return msgspec.convert(value, kind, str_keys=True)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if " - at `$" in text:
            message, _, path = text.rpartition(" - at `$")
            raise DefinitionError(f"{message} - at `{where}{path}") from None
        raise DefinitionError(f"{text} - at `{where}`") from None


def _variation(raw: Any, where: str) -> Message | Control:
    """One variation: a control group (`"type": "control"`) or a message of its channel."""
    if isinstance(raw, dict) and raw.get("type") == "control":
        try:
            control: Control = _convert(raw, Control, where)
            return control
        except DefinitionError as control_error:
            try:  # a webhook whose content type is literally "control"
                message: Message = _convert(raw, Message, where)
                return message
            except DefinitionError:
                raise control_error from None
    found: Message = _convert(raw, Message, where)
    return found


def load_definition(value: Any) -> CampaignDefinition:
    """Validate a decoded JSON object as a campaign definition (DefinitionError names the field)."""
    if not isinstance(value, dict):
        raise DefinitionError("a campaign definition must be a JSON object")
    fields = dict(value)
    raw_messages = fields.pop("messages", {})
    if not isinstance(raw_messages, dict):
        kind = {type(None): "null", list: "array", str: "str", bool: "bool"}.get(
            type(raw_messages), type(raw_messages).__name__
        )
        raise DefinitionError(f"Expected `object`, got `{kind}` - at `$.messages`")
    messages: dict[str, Message | Control] = {}
    for key, raw in raw_messages.items():
        messages[key] = _variation(raw, f"$.messages[{key!r}]")
    definition: CampaignDefinition = _convert(fields, CampaignDefinition, "$")
    if len(messages) > MAX_VARIATIONS:
        raise DefinitionError(f"Expected `object` of length <= {MAX_VARIATIONS} - at `$.messages`")
    definition.messages = messages
    return definition


def decode_definition(data: bytes) -> CampaignDefinition:
    """Decode and validate a definition from JSON bytes."""
    try:
        value = _RAW.decode(data)
    except msgspec.DecodeError as exc:
        raise DefinitionError(f"Malformed JSON: {exc}") from None
    return load_definition(value)


def encode_definition(definition: CampaignDefinition) -> str:
    """The definition as stored (JSON text)."""
    return _ENCODER.encode(definition).decode()
