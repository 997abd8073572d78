"""What responders do to an incident from the console: the same `Responder` the CLI uses, so each action is one
transaction (status, hash-chained timeline entry, outbox rows for Slack and the other notifiers), done as the
signed-in person. Each answers with a redirect back to the incident (post/redirect/get)."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from pii_guard.duration import duration_us
from pii_guard.incidents.actions import Responder
from pii_guard.incidents.records import incident_label, parse_label
from pii_guard.notify.build import targets_for
from pii_guard.web.context import WebContext
from pii_guard.web.guard import Refused, Visit, guarded
from pii_guard.web.roles import Permission

ACTIONS = ("acknowledge", "assign", "comment", "resolve", "false-positive", "silence")
MAX_SILENCE_US = 30 * 86_400_000_000


@guarded(Permission.ACT)
def incident_action(ctx: WebContext, visit: Visit) -> Response:
    label = str(visit.request.path_params["label"])
    action = str(visit.request.path_params["action"])
    number = parse_label(label)
    if action not in ACTIONS or number is None:
        raise Refused(404, "no such action")
    now = ctx.now_us()
    with ctx.state() as state:
        responder = Responder(state.connection, targets_for(ctx.config), visit.who.actor)
        if action == "acknowledge":
            responder.acknowledge(label, now)
        elif action == "assign":
            assignee = visit.field("assignee", 200).strip()
            if not assignee:
                raise Refused(400, "say to whom: the assignee is empty")
            responder.assign(label, assignee, now)
        elif action == "comment":
            responder.comment(label, visit.field("text", 4000), now)
        elif action in ("resolve", "false-positive"):
            responder.resolve(label, visit.field("reason", 4000), now, false_positive=action == "false-positive")
        else:
            rule, key = visit.field("rule", 200).strip(), visit.field("key", 200).strip()
            if not rule or not key:
                raise Refused(400, "a silence needs a rule (or *) and a key (or a glob)")
            try:
                span = duration_us(visit.field("duration", 20).strip())
            except ValueError as exc:
                raise Refused(400, f"duration: {exc}") from None
            if span > MAX_SILENCE_US:
                raise Refused(400, "a silence lasts at most 30 days")
            responder.silence(rule, key, span, visit.field("reason", 4000), now)
    return RedirectResponse(f"/incidents/{incident_label(number)}#timeline", status_code=303)
