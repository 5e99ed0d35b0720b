# Switchyard keyword router in Python (componentize-py guest); behaviour: ../KEYWORD-ROUTER.md.
#
# It must return the same decision as the Rust and JavaScript routers for the same
# input, so the settings rules and texts here mirror theirs rather than Python idioms.

import json
from bisect import bisect_right

import wit_world
from alnum_table import ALNUM
from componentize_py_types import Err
from wit_world.imports import acd, kv, log
from wit_world.imports.types import (
    Conversation,
    ConversationStatus,
    ConnectorContext,
    Decision,
    GroupTarget,
    InboundMessage,
    OutboundReply,
    Target_AcdGroup,
    Target_Reject,
)

ROUTED_BY = ("routed_by", "keyword-router")
U32_MAX = 4294967295


class InvalidSettings(Exception):
    pass


def is_alnum(ch):
    # Rust's char::is_alphanumeric is Unicode Alphabetic or Numeric. str.isalnum misses
    # the Other_Alphabetic marks (Indic vowel signs, Hebrew points), so Hindi words would
    # split where Rust keeps them whole; the generated table is exact.
    if ch < "\x80":
        return ch.isalnum()
    return bisect_right(ALNUM, ord(ch)) % 2 == 1


def tokens(text):
    # str.lower is Rust's to_lowercase, final sigma included, up to the Unicode version
    # (CPython 3.14 in componentize-py 0.25.1 has 16.0, Rust 17.0).
    out = []
    current = []
    for ch in text.lower():
        if is_alnum(ch):
            current.append(ch)
        elif current:
            out.append("".join(current))
            current = []
    if current:
        out.append("".join(current))
    return out


def contains_run(haystack, needle):
    if not needle or len(needle) > len(haystack):
        return False
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def optional_string(obj, key, where):
    # JSON null counts as absent, as serde's Option does in the Rust router.
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidSettings(f"{where} is not a string")
    return value


def _parse_int(literal):
    return -0.0 if literal == "-0" else int(literal)


def _refuse_constant(literal):
    raise ValueError(literal)


def parse_settings(text):
    try:
        # serde_json reads -0 as a float, which Rust refuses as a priority, where
        # json.loads would make it the integer 0; and NaN/Infinity are not JSON to serde.
        root = json.loads(text, parse_int=_parse_int, parse_constant=_refuse_constant)
    except ValueError:
        raise InvalidSettings("not valid JSON")
    if not isinstance(root, dict):
        raise InvalidSettings("not a JSON object")

    raw_groups = root.get("groups")
    if raw_groups is None:
        raw_groups = []
    if not isinstance(raw_groups, list):
        raise InvalidSettings("groups is not a list")

    groups = []
    for i, raw in enumerate(raw_groups):
        where = f"groups[{i}]"
        if not isinstance(raw, dict):
            raise InvalidSettings(f"{where} is not an object")
        name = optional_string(raw, "group", f"{where}.group")
        if name is None:
            raise InvalidSettings(f"{where}.group is missing")
        keywords = raw.get("keywords")
        if keywords is None:
            keywords = []
        if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
            raise InvalidSettings(f"{where}.keywords is not a list of strings")
        subject = optional_string(raw, "subject", f"{where}.subject")
        priority = raw.get("priority")
        if priority is None:
            priority = 0
        # bool is an int subclass in Python, and JSON true is not a priority.
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= U32_MAX:
            raise InvalidSettings(f"{where}.priority is not an integer from 0 to 4294967295")
        groups.append((name, keywords, subject, priority))

    return {
        "groups": groups,
        "default_group": optional_string(root, "default_group", "default_group"),
        "auto_reply": optional_string(root, "auto_reply", "auto_reply"),
        "overflow_group": optional_string(root, "overflow_group", "overflow_group"),
    }


def find_match(settings, body_tokens):
    for group in settings["groups"]:
        for keyword in group[1]:
            if contains_run(body_tokens, tokens(keyword)):
                return group, keyword
    return None


def decide(message, settings_text):
    try:
        settings = parse_settings(settings_text)
    except InvalidSettings as e:
        return Target_Reject(f"invalid settings: {e}"), [], []

    key = "last-group:" + message.sender
    found = find_match(settings, tokens(message.body))
    if found is not None:
        (name, _keywords, subject, priority), keyword = found
        target_group = name
        user_data = [("matched_keyword", keyword), ROUTED_BY]
        overflow = settings["overflow_group"]
        if overflow is not None:
            staffing = acd.availability(name)
            if staffing is not None and staffing.ready_agents == 0:
                target_group = overflow
                user_data.append(("overflow_from", name))
        try:
            kv.set(key, target_group)
        except Err:
            # Remembering the group is a convenience; routing must not fail over it.
            pass
        log.log(log.Level.INFO, f"routed to {target_group} by keyword {keyword}")
        target = GroupTarget(
            group=target_group,
            priority=priority,
            subject=subject if subject is not None else message.subject,
            user_data=user_data,
        )
        return Target_AcdGroup(target), ["keyword:" + keyword], []

    log.log(log.Level.INFO, "no keyword matched")
    last = kv.get(key)
    if last is not None:
        target = Target_AcdGroup(
            GroupTarget(last, 0, message.subject, [ROUTED_BY, ("reason", "last_group")])
        )
    elif settings["default_group"] is not None:
        target = Target_AcdGroup(
            GroupTarget(settings["default_group"], 0, message.subject, [ROUTED_BY, ("reason", "default_group")])
        )
    else:
        target = Target_Reject("no keyword matched and no default_group")
    replies = []
    if settings["auto_reply"] is not None:
        replies.append(OutboundReply(message.channel, None, None, settings["auto_reply"]))
    return target, [], replies


class WitWorld(wit_world.WitWorld):
    def route(
        self, message: InboundMessage, connector: ConnectorContext, conversation: Conversation
    ) -> Decision:
        target, tags, replies = decide(message, connector.settings)
        status = None
        if conversation.status in (ConversationStatus.NOT_CONTACTED, ConversationStatus.CLOSED):
            status = ConversationStatus.NEW
        return Decision(target=target, status=status, tags=tags, replies=replies)
