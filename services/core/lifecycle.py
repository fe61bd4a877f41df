"""The ticket lifecycle as a pure function: (ticket, event or timer, policy) -> Outcome.

One module holds every rule that moves a ticket, so "what happens on X" has one answer:
`HANDLERS` below maps each inbound type to its handler, `fire` handles each timer kind.
No I/O and no wall clock: every instant comes from the event's `time` or the timer's due
instant, which is what makes replays, `tick` and the scheduler agree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from schemas import Inbound
from schemas import inbound as ib
from services.core.policies import Policy
from services.core.surveys import next_send_time, reminder_refusal
from services.core.taxonomy import GROUP_OF
from services.core.ticket import (
    AWAITING_CUSTOMER,
    AWAITING_MERCHANT,
    AWAITING_PLATFORM,
    CLOSED,
    T_BREACH,
    T_CONFIRMATION,
    T_INACTIVITY,
    T_SURVEY,
    T_WARNING,
    USER_CONFIRMING,
    Fact,
    MerchantClock,
    Outcome,
    Survey,
    Task,
    Ticket,
)

MR, UC, CI = "merchant_response", "user_confirmation", "chat_inactivity"
MERCHANT_ACTIONS_FROM = (AWAITING_MERCHANT, AWAITING_CUSTOMER)
#: The inline answer is sent to the refining worker (issue #17) when its confidence is below this, or
#: when it is `other`. The inline model is confidently wrong on phrasings it never saw (on the rarer
#: set 2, 20 % of its answers at >= 0.8 were wrong), so more is sent than at first (0.8), but each send
#: costs ~15-30 ms of CPU: set 2 after refinement / share sent of set 1 and set 2 (bench_language.py
#: --refine): 0.8 -> 84.8 % / 28 % / 66 %; 0.85 -> 86.1 % / 31 % / 70 %; 0.95 -> 87.9 % / 42 % / 76 %.
REFINE_BELOW = 0.85
#: Labels that speak for the inline model's doubt: a refinement answers them, so they go.
_DOUBT_LABELS = ("needs_review", "guess:")
NOTE_LIMIT = 2000  # CONTRACT: reasons and notes travel on outbound events cut at 2,000 characters


def cut(text: str | None) -> str | None:
    """A reason, note or comment as it travels on an outbound event: as given, at most NOTE_LIMIT long."""
    return None if text is None else text[:NOTE_LIMIT]


def pending_timers(t: Ticket) -> dict[str, datetime]:
    """The timers a ticket's state calls for, by kind: exactly the ones `Lifecycle.fire` would act on."""
    out: dict[str, datetime] = {}
    c = t.clock
    if c is not None and not c.breached:
        out[T_BREACH] = c.due_at
        if c.warn_at is not None and t.status == AWAITING_MERCHANT:
            out[T_WARNING] = c.warn_at
    s = t.survey
    if s.scheduled_for is not None and s.first_sent_at is None and not s.answered:
        out[T_SURVEY] = s.scheduled_for
    if t.status == USER_CONFIRMING and t.confirmation_due_at is not None and not s.answered:
        out[T_CONFIRMATION] = t.confirmation_due_at
    if t.status == AWAITING_MERCHANT and t.inactivity_due_at is not None:
        out[T_INACTIVITY] = t.inactivity_due_at
    return out


class Classification(Protocol):
    category: str
    urgent: bool
    language: str
    confidence: float
    classifier: str
    labels: tuple[str, ...]


class Languages(Protocol):
    """Language detection as the core needs it: enough to know when a translation is needed at all."""

    def detect(self, text: str, locale: str | None) -> str: ...
    def normalize(self, locale: str) -> str: ...


def classification_key(ev: Inbound) -> tuple[str, str | None] | None:
    """What the core classifies for an event: (opening text, customer locale), None if nothing. The
    engine computes these answers ahead of the transaction by the same key (Engine.prepare)."""
    if ev.type != "ticket.opened":
        return None
    d = ev.data
    assert isinstance(d, ib.TicketOpened)
    return d.message.text, d.customer.locale if d.customer else None


class Lifecycle:
    """Applies inbound events and fired timers to tickets under their policies."""

    def __init__(
        self, policies: dict[str, Policy], languages: Languages | None = None, *, refine_below: float | None = None
    ):
        self.policies = policies
        self.languages = languages  # None: every customer message goes to the translate worker
        # None: no refining worker is asked (tests of the lifecycle alone; a deployment without it)
        self.refine_below = refine_below

    # -- entry points --------------------------------------------------------------
    def apply(self, ticket: Ticket | None, ev: Inbound, classification: Classification | None = None) -> Outcome:
        """`classification`: the classifier's answer for `classification_key(ev)`, computed by the caller
        (ahead of the transaction); required for `ticket.opened`, ignored otherwise."""
        if ev.type == "ticket.opened":
            if ticket is not None:
                return Outcome(ticket, rejection=("invalid_transition", "ticket already opened"))
            if classification is None:
                raise ValueError("ticket.opened needs its classification (see classification_key)")
            return self._opened(ev, classification)
        if HANDLERS[ev.type] is None:
            raise ValueError(f"{ev.type} is not applied to a ticket")
        if ticket is None:
            return Outcome(None, rejection=("unknown_ticket", "no ticket.opened for this subject"))
        t = ticket.clone()
        o = Outcome(t)
        handler = HANDLERS[ev.type]
        assert handler is not None, ev.type
        handler(self, o, t, ev, self.policies[t.policy])
        if o.rejection:
            return Outcome(ticket, rejection=o.rejection)
        t.updated_at = max(t.updated_at, ev.time)
        return o

    def fire(self, ticket: Ticket, kind: str, due: datetime) -> Outcome:
        """A timer came due. Re-checks the ticket: a timer that no longer matches does nothing."""
        t = ticket.clone()
        o = Outcome(t)
        self._fire(o, t, self.policies[t.policy], kind, due)
        if o.emits:
            t.updated_at = max(t.updated_at, due)
        return o

    def _fire(self, o: Outcome, t: Ticket, p: Policy, kind: str, due: datetime) -> None:
        cause = f"timer:{kind.split('.')[0]}"
        if kind == T_WARNING:
            c = t.clock
            if t.status == AWAITING_MERCHANT and c and c.warn_at == due and not c.breached:
                self._warn(o, t, p, c.due_at)
        elif kind == T_BREACH:
            c = t.clock
            if c and c.due_at == due and not c.breached:
                self._breach(o, t, p, due, cause)
        elif kind == T_SURVEY:
            if t.survey.scheduled_for == due and t.survey.first_sent_at is None and not t.survey.answered:
                self._send_survey(o, t, p, due)
        elif kind == T_CONFIRMATION:
            if t.status == USER_CONFIRMING and t.confirmation_due_at == due and not t.survey.answered:
                o.emit("sla.breached", clock=UC, due_at=due, policy=p.name)
                t.confirmation_due_at = None
                o.timers[T_CONFIRMATION] = None
                self._escalate(o, t, p, "confirmation_timeout", due, cause)
        elif kind == T_INACTIVITY:
            # 003: a session ignored by the agent for more than 7 days closes for good; only a chat
            # still waiting for the merchant since the clock started can be ignored by the agent.
            if t.status == AWAITING_MERCHANT and t.inactivity_due_at == due:
                o.emit("sla.breached", clock=CI, due_at=due, policy=p.name)
                t.inactivity_due_at = None
                o.timers[T_INACTIVITY] = None
                self._move(o, t, p, CLOSED, "ignored", cause, due, permanently=True)
        else:
            raise ValueError(f"unknown timer kind {kind!r}")

    # -- inbound handlers ------------------------------------------------------------
    def _opened(self, ev: Inbound, model: Classification) -> Outcome:
        d: ib.TicketOpened = ev.data  # type: ignore[assignment]
        p = self.policies.get(d.policy)
        if p is None:
            return Outcome(None, rejection=("invalid_data", f"data.policy: unknown policy {d.policy!r}"))
        cust = d.customer
        locale = cust.locale if cust else None
        # A classifier answer outside the taxonomy is `other` (DOMAIN: "anything else is other"), not a crash.
        model_category = model.category if model.category in GROUP_OF else "other"
        category = d.category or model_category
        urgent = d.urgent if d.urgent is not None else model.urgent
        group = GROUP_OF[category]
        # An upstream category wins; the model's labels (needs_review) only speak for the model's own choice.
        labels = list(dict.fromkeys([*d.labels, *(model.labels if d.category is None else ())]))
        t = Ticket(
            id=ev.subject,
            merchant_id=d.merchant_id,
            policy=p.name,
            status=AWAITING_MERCHANT,
            opened_at=ev.time,
            updated_at=ev.time,
            customer_timezone=cust.timezone if cust else None,
            customer_locale=locale,
            merchant_locale=d.merchant_locale,
            group=group,
            category=category,
            urgent=urgent,
            language=model.language,
            labels=labels,
            response_hours=d.response_hours,
            order=d.order.model_dump(mode="json") if d.order else None,
            category_source="upstream" if d.category else "model",
            urgent_source="upstream" if d.urgent is not None else "model",
            channel=d.channel,
            customer_id=cust.id if cust else None,
        )
        o = Outcome(t)
        o.emit("ticket.status_changed", **{"from": None}, to=AWAITING_MERCHANT, reason="opened", caused_by=ev.id)
        o.emit("notification.requested", kind="new_request", status=AWAITING_MERCHANT)
        o.emit(
            "ticket.classified",
            group=group,
            category=category,
            urgent=urgent,
            language=model.language,
            confidence=1.0 if d.category else model.confidence,
            classifier=model.classifier,
            labels=labels,
            source="upstream" if d.category else "model",
            model_category=model_category,
            model_confidence=model.confidence,
        )
        self._start_merchant_clock(o, t, p, ev.time)
        self._start_inactivity(o, t, p, ev.time)
        o.facts.append(Fact("opened", t.merchant_id, p.name, ev.time))
        self._record_message(o, t, d.message, "customer", ev.time, language=model.language)
        if d.category is None and self.refine_below is not None:
            if model_category == "other" or model.confidence < self.refine_below:
                o.tasks.append(Task("refine", {"ticket_id": t.id, "message_id": d.message.message_id}))
        return o

    def reclassify(self, ticket: Ticket, model: Classification, at: datetime) -> Outcome:
        """A stronger classifier's answer for the opening message (the refining worker, issue #17).

        Never touches what a person set: an upstream `category` leaves the ticket as it is, an upstream
        `urgent` keeps the flag. Urgency is only ever added (the inline safety lexicon is the first word on
        safety and a refinement cannot silence it). The new category and urgency rule from `at` on: the
        breach action reads the group when it fires, the next clock reads the urgency when it starts; a
        running merchant_response clock of a ticket made urgent is shortened to the urgent duration counted
        from the clock's start (for a fresh ticket, its opening), never later than the old deadline. A
        deadline already past at `at` is due at `at` (never backdated: the merchant could not have known
        before), and the scheduler breaches it at once. An answer that changes nothing emits nothing.
        """
        t = ticket.clone()
        o = Outcome(t)
        if t.category_source == "upstream":
            return o
        p = self.policies[t.policy]
        category = model.category if model.category in GROUP_OF else "other"
        add_urgent = model.urgent and not t.urgent and t.urgent_source != "upstream"
        if category == t.category and not add_urgent:
            return o
        previous = t.category
        t.category, t.group = category, GROUP_OF[category]
        t.category_source = "refined"
        kept = [lbl for lbl in t.labels if not lbl.startswith(_DOUBT_LABELS)]
        new = [lbl for lbl in model.labels if lbl.startswith("safety:")] if add_urgent else []
        t.labels = list(dict.fromkeys([*kept, *new, "refined"]))
        if add_urgent:
            t.urgent, t.urgent_source = True, "refined"
        t.updated_at = max(t.updated_at, at)
        o.emit(
            "ticket.classified",
            group=t.group,
            category=t.category,
            urgent=t.urgent,
            language=t.language or model.language,
            confidence=model.confidence,
            classifier=model.classifier,
            labels=t.labels,
            source="refined",
            model_category=category,
            model_confidence=model.confidence,
            previous_category=previous,
        )
        if add_urgent:
            self._shorten_for_urgency(o, t, p, at)
        return o

    def _shorten_for_urgency(self, o: Outcome, t: Ticket, p: Policy, at: datetime) -> None:
        c = t.clock
        if t.status != AWAITING_MERCHANT or c is None or c.breached:
            return  # no running clock: the next one starts with the urgent duration (response_for)
        duration = p.response_for(True, t.response_hours)
        due = min(c.due_at, max(p.calendar.add(c.started_at, duration), at))
        if due >= c.due_at:
            return  # the policy has no shorter urgent deadline, or an agreed one wins
        c.due_at = due
        o.timers[T_BREACH] = due
        o.emit("sla.activated", clock=MR, due_at=due, policy=p.name)
        if c.warn_at is None or p.warning_before is None:
            return  # warned already (or the policy has no warning)
        if duration <= p.warning_before or due <= at:
            self._warn(o, t, p, due)
        else:
            c.warn_at = min(c.warn_at, p.calendar.add(c.started_at, duration - p.warning_before))
            o.timers[T_WARNING] = c.warn_at

    def _posted(self, o: Outcome, t: Ticket, ev: Inbound, p: Policy) -> None:
        m = ev.data.message  # type: ignore[attr-defined]
        if not t.is_open:
            return self._reject(o, f"message.posted on a {t.status} ticket")
        self._record_message(o, t, m, m.author, ev.time)
        if m.author == "customer" and t.status == AWAITING_CUSTOMER:
            self._move(o, t, p, AWAITING_MERCHANT, "customer_replied", ev.id, ev.time)
        elif m.author == "merchant":
            self._merchant_activity(o, t, p, ev.time)
            self._chat_answered(o, t, p, ev.time)
            if t.status == AWAITING_MERCHANT:
                self._move(o, t, p, AWAITING_CUSTOMER, "merchant_replied", ev.id, ev.time, fulfils=True)

    def _resolved(self, o: Outcome, t: Ticket, ev: Inbound, p: Policy) -> None:
        if t.status not in MERCHANT_ACTIONS_FROM:
            return self._reject(o, f"ticket.resolved from {t.status}")
        d: ib.TicketResolved = ev.data  # type: ignore[assignment]
        m = d.message
        if p.evidence_after_settlement and (t.refunds or t.refund or d.agreed) and not (m and m.attachments):
            # 002: already refunded or agreed with the customer, the reply must carry the evidence
            settled = "agreed with the customer" if d.agreed else "refunded"
            o.rejection = ("missing_evidence", f"ticket.resolved on a {settled} {p.name} ticket needs an attachment")
            return
        if m is not None:
            self._record_message(o, t, m, "merchant", ev.time)
            self._chat_answered(o, t, p, ev.time)
        to = USER_CONFIRMING if p.user_confirmation is not None else CLOSED
        self._move(o, t, p, to, "resolved", ev.id, ev.time, fulfils=True)
        self._merchant_activity(o, t, p, ev.time)
        self._start_survey(o, t, p, ev.time)

    def _unresolved(self, o: Outcome, t: Ticket, ev: Inbound, p: Policy) -> None:
        self._merchant_escalates(o, t, ev, p, "unresolved")

    def _appealed(self, o: Outcome, t: Ticket, ev: Inbound, p: Policy) -> None:
        self._merchant_escalates(o, t, ev, p, "appeal")

    def _merchant_escalates(self, o: Outcome, t: Ticket, ev: Inbound, p: Policy, escalation: str) -> None:
        """The merchant hands the ticket to the platform ("cannot resolve", 002; an appeal, 000): a response,
        with its reason kept and carried as the escalation's detail."""
        if t.status not in MERCHANT_ACTIONS_FROM:
            return self._reject(o, f"{ev.type} from {t.status}")
        reason = ev.data.reason  # type: ignore[attr-defined]
        self._keep(t, ev, "reason", reason)
        self._merchant_activity(o, t, p, ev.time)
        self._escalate(o, t, p, escalation, ev.time, ev.id, fulfils=True, detail=reason)

    def _refunded(self, o: Outcome, t: Ticket, ev: Inbound, p: Policy) -> None:
        if not t.is_open:
            return self._reject(o, "ticket.refunded on a closed ticket")
        if not p.refundable(t.group):
            groups = ", ".join(p.refund_groups or ())
            return self._reject(
                o, f"ticket.refunded on a {t.group} ticket: {p.name} refunds {groups or 'nothing'} only"
            )
        d: ib.TicketRefunded = ev.data  # type: ignore[assignment]
        items = [{"item_id": i, "quantity": 1} if isinstance(i, str) else i.model_dump() for i in d.items]
        t.refund = {
            "items": items,
            "amount": str(d.amount) if d.amount is not None else None,
            "currency": d.currency,
            "at": ev.time.isoformat(),
            "event_id": ev.id,
        }
        t.refunds = [*t.refunds, t.refund]
        o.detail = {"items": items, "amount": t.refund["amount"], "currency": d.currency}
        if not p.refund_closes:
            return  # 002: recorded; not a reply either, so no response is counted and the clock runs on
        self._move(o, t, p, CLOSED, "refunded", ev.id, ev.time, fulfils=True)
        self._merchant_activity(o, t, p, ev.time)

    def _platform_decided(self, o: Outcome, t: Ticket, ev: Inbound, p: Policy) -> None:
        if t.status != AWAITING_PLATFORM:
            return self._reject(o, f"ticket.platform_decided from {t.status}")
        d: ib.PlatformDecided = ev.data  # type: ignore[assignment]
        self._keep(t, ev, "note", d.note)
        if d.decision == "approved":
            self._move(o, t, p, CLOSED, "platform_approved", ev.id, ev.time, note=d.note)
        else:
            if d.response_hours is not None:
                t.response_hours = d.response_hours
            self._move(o, t, p, AWAITING_MERCHANT, "platform_rejected", ev.id, ev.time, note=d.note)

    def _survey_answered(self, o: Outcome, t: Ticket, ev: Inbound, p: Policy) -> None:
        rating = ev.data.rating  # type: ignore[attr-defined]
        comment = ev.data.comment  # type: ignore[attr-defined]
        self._keep(t, ev, "comment", comment)
        if t.rating is None:  # CSAT counts one answer per ticket
            t.rating = rating
            o.facts.append(Fact("rating", t.merchant_id, p.name, ev.time, value=float(rating)))
        s = t.survey
        if s.answered:
            return
        s.answered = True
        if s.scheduled_for is not None:  # answered before the deferred send: nothing left to send
            s.scheduled_for = None
            o.timers[T_SURVEY] = None
        if t.status != USER_CONFIRMING:
            return
        self._end_confirmation(o, t, p, fulfilled=True)
        if rating >= 4:
            self._move(o, t, p, CLOSED, "survey_satisfied", ev.id, ev.time, note=comment)
        else:
            self._escalate(o, t, p, "unsatisfied", ev.time, ev.id, detail=comment)

    def _reminder_requested(self, o: Outcome, t: Ticket, ev: Inbound, p: Policy) -> None:
        s = t.survey
        refusal = reminder_refusal(
            at=ev.time,
            tz=self._customer_tz(t, p),
            confirming=t.status == USER_CONFIRMING,
            answered=s.answered,
            first_sent_at=s.first_sent_at,
            last_sent_at=s.last_sent_at,
            reminders=s.reminders,
            max_reminders=p.max_reminders,
            spacing=p.reminder_spacing,
            quiet_start=p.quiet_start,
            quiet_end=p.quiet_end,
        )
        if refusal:
            o.emit("survey.reminder_rejected", reason=refusal)
            return
        s.reminders += 1
        s.last_sent_at = ev.time
        o.emit("survey.dispatched", attempt=s.reminders, sent_at=ev.time)

    def _urged(self, o: Outcome, t: Ticket, ev: Inbound, p: Policy) -> None:
        if not t.is_open:
            return self._reject(o, "ticket.urged on a closed ticket")
        t.urges += 1

    def _reopened(self, o: Outcome, t: Ticket, ev: Inbound, p: Policy) -> None:
        if t.is_open:
            return self._reject(o, f"ticket.reopened from {t.status}")
        if t.permanently_closed:
            return self._reject(o, "ticket.reopened on a permanently closed ticket")
        reason = ev.data.reason  # type: ignore[attr-defined]
        self._keep(t, ev, "reason", reason)
        self._move(o, t, p, AWAITING_MERCHANT, "reopened", ev.id, ev.time, note=reason)

    def _withdrawn(self, o: Outcome, t: Ticket, ev: Inbound, p: Policy) -> None:
        if not t.is_open:
            return self._reject(o, "ticket.withdrawn on a closed ticket")
        if not p.withdrawable:
            return self._reject(o, f"a {p.name} request cannot be withdrawn")
        reason = ev.data.reason  # type: ignore[attr-defined]
        self._keep(t, ev, "reason", reason)
        self._move(o, t, p, CLOSED, "withdrawn", ev.id, ev.time, note=reason)

    def _closed(self, o: Outcome, t: Ticket, ev: Inbound, p: Policy) -> None:
        if not t.is_open:
            return self._reject(o, "ticket.closed on a closed ticket")
        d: ib.TicketClosed = ev.data  # type: ignore[assignment]
        if not p.merchant_can_close and d.by != "platform":
            return self._reject(o, f"a {p.name} request is closed only by the platform, not by {d.by or 'unnamed'}")
        self._move(
            o, t, p, CLOSED, f"closed_by_{d.by}" if d.by else "closed", ev.id, ev.time, permanently=d.permanently
        )

    def _transfer_requested(self, o: Outcome, t: Ticket, ev: Inbound, p: Policy) -> None:
        """Who holds a chat is routing's to decide (services.core.routing); the ticket only has to be a
        chat under routing, and open when the one chat is to move."""
        d: ib.ChatTransferRequested = ev.data  # type: ignore[assignment]
        if not p.routing:
            return self._reject(o, f"chat.transfer_requested on a {p.name} ticket (policy without routing)")
        if d.scope == "one" and not t.is_open:
            return self._reject(o, "chat.transfer_requested on a closed chat")

    # -- the mechanics every handler shares ----------------------------------------------
    @staticmethod
    def _reject(o: Outcome, detail: str) -> None:
        o.rejection = ("invalid_transition", detail)

    @staticmethod
    def _keep(t: Ticket, ev: Inbound, field_: str, text: str | None) -> None:
        """What an event said (a reason, a note, a comment) stays on the ticket, as given."""
        if text:
            t.notes = [*t.notes, {"at": ev.time.isoformat(), "event_id": ev.id, "type": ev.type, field_: text}]

    def _move(
        self,
        o: Outcome,
        t: Ticket,
        p: Policy,
        to: str,
        reason: str,
        cause: str,
        at: datetime,
        *,
        fulfils: bool = False,
        permanently: bool = False,
        note: str | None = None,
    ) -> None:
        """Change status, ending and starting the clocks that belong to the old and new status."""
        frm = t.status
        if frm == AWAITING_MERCHANT:
            self._end_merchant_clock(o, t, p, at, fulfilled=fulfils)
            self._end_inactivity(o, t, p, fulfilled=fulfils)
        if frm == USER_CONFIRMING and to != USER_CONFIRMING:
            self._end_confirmation(o, t, p, fulfilled=False)
        t.status = to
        if to == CLOSED:
            t.permanently_closed = permanently
        extra = {"note": cut(note)} if note else {}
        o.emit(
            "ticket.status_changed",
            **{"from": frm},
            to=to,
            reason=reason,
            caused_by=cause,
            permanently=permanently,
            **extra,
        )
        kind = "platform_rejected" if reason == "platform_rejected" else "status_changed"
        o.emit("notification.requested", kind=kind, status=to)
        if to == AWAITING_MERCHANT:
            if t.survey.scheduled_for is not None:  # back to the merchant: a deferred survey is moot
                t.survey.scheduled_for = None
                o.timers[T_SURVEY] = None
            self._start_merchant_clock(o, t, p, at)
            self._start_inactivity(o, t, p, at)

    def _escalate(
        self,
        o: Outcome,
        t: Ticket,
        p: Policy,
        reason: str,
        at: datetime,
        cause: str,
        *,
        fulfils: bool = False,
        detail: str | None = None,
    ) -> None:
        o.emit("ticket.escalated", reason=reason, **({"detail": cut(detail)} if detail else {}))
        self._move(o, t, p, AWAITING_PLATFORM, reason, cause, at, fulfils=fulfils, note=detail)

    def _start_merchant_clock(self, o: Outcome, t: Ticket, p: Policy, at: datetime) -> None:
        duration = p.response_for(t.urgent, t.response_hours)
        due = p.calendar.add(at, duration)
        c = MerchantClock(started_at=at, due_at=due)
        t.clock = c
        o.emit("sla.activated", clock=MR, due_at=due, policy=p.name)
        o.timers[T_BREACH] = due
        o.timers[T_WARNING] = None
        if p.warning_before is not None:
            if duration <= p.warning_before:
                self._warn(o, t, p, due)
            else:
                c.warn_at = p.calendar.add(at, duration - p.warning_before)
                o.timers[T_WARNING] = c.warn_at

    def _warn(self, o: Outcome, t: Ticket, p: Policy, due: datetime) -> None:
        o.emit("sla.warning", clock=MR, due_at=due, policy=p.name)
        o.emit("notification.requested", kind="deadline_soon", status=t.status)
        if t.clock:
            t.clock.warn_at = None
        o.timers[T_WARNING] = None

    def _breach(self, o: Outcome, t: Ticket, p: Policy, due: datetime, cause: str) -> None:
        c = t.clock
        assert c is not None
        c.breached = True
        o.timers[T_BREACH] = None
        o.timers[T_WARNING] = None
        o.emit("sla.breached", clock=MR, due_at=due, policy=p.name)
        t.responses += 1
        t.late_responses += 1
        o.facts.append(Fact("response", t.merchant_id, p.name, due, late=True))
        takeover = p.breach_action == "escalate" or (
            p.breach_action == "escalate_post_purchase" and t.group == "post_purchase"
        )
        if takeover and t.status == AWAITING_MERCHANT:
            self._escalate(o, t, p, "merchant_late", due, cause)

    def _end_merchant_clock(self, o: Outcome, t: Ticket, p: Policy, at: datetime, *, fulfilled: bool) -> None:
        c = t.clock
        if c is None:
            return
        if fulfilled:
            late = c.breached or at > c.due_at
            o.emit("sla.fulfilled", clock=MR, due_at=c.due_at, policy=p.name, late=late)
            if not c.breached:  # a breach already counted this response as late
                t.responses += 1
                t.late_responses += int(late)
                o.facts.append(Fact("response", t.merchant_id, p.name, at, late=late))
        elif not c.breached:
            o.emit("sla.cancelled", clock=MR, due_at=c.due_at, policy=p.name)
        t.clock = None
        o.timers[T_BREACH] = None
        o.timers[T_WARNING] = None

    def _merchant_activity(self, o: Outcome, t: Ticket, p: Policy, at: datetime) -> None:
        """Any merchant act that answers: the first one is the first response."""
        if t.first_response_at is None:
            t.first_response_at = at
            o.facts.append(
                Fact(
                    "first_response",
                    t.merchant_id,
                    p.name,
                    at,
                    value=max(0.0, (at - t.opened_at).total_seconds()),
                    opened_at=t.opened_at,
                )
            )

    def _chat_answered(self, o: Outcome, t: Ticket, p: Policy, at: datetime) -> None:
        """A merchant answer on a chat: what a later order of the same customer converts from (003)."""
        if p.chat_inactivity is not None and t.customer_id:
            o.facts.append(Fact("chat_answered", t.merchant_id, p.name, at, customer_id=t.customer_id))

    def _start_inactivity(self, o: Outcome, t: Ticket, p: Policy, at: datetime) -> None:
        """003, CONTRACT (corrected): a chat entering `awaiting_merchant` gets a fresh 7 days (wall-clock);
        it runs only while the chat waits for the merchant, so a further customer message (no status
        change) does not restart it."""
        if p.chat_inactivity is None:
            return
        due = at + p.chat_inactivity
        t.inactivity_due_at = due
        o.timers[T_INACTIVITY] = due
        o.emit("sla.activated", clock=CI, due_at=due, policy=p.name)

    def _end_inactivity(self, o: Outcome, t: Ticket, p: Policy, *, fulfilled: bool) -> None:
        """Leaving `awaiting_merchant` stops the chat's clock: fulfilled by a merchant act, else cancelled."""
        if t.inactivity_due_at is None:
            return
        if fulfilled:
            o.emit("sla.fulfilled", clock=CI, due_at=t.inactivity_due_at, policy=p.name, late=False)
        else:
            o.emit("sla.cancelled", clock=CI, due_at=t.inactivity_due_at, policy=p.name)
        t.inactivity_due_at = None
        o.timers[T_INACTIVITY] = None

    def _start_survey(self, o: Outcome, t: Ticket, p: Policy, at: datetime) -> None:
        t.survey = Survey(cycle=t.survey.cycle + 1)
        send_at = next_send_time(at, self._customer_tz(t, p), p.quiet_start, p.quiet_end)
        if send_at == at:
            self._send_survey(o, t, p, at)
        else:
            t.survey.scheduled_for = send_at
            o.timers[T_SURVEY] = send_at

    def _send_survey(self, o: Outcome, t: Ticket, p: Policy, at: datetime) -> None:
        s = t.survey
        s.scheduled_for = None
        s.first_sent_at = s.last_sent_at = at
        o.timers[T_SURVEY] = None
        o.emit("survey.dispatched", attempt=0, sent_at=at)
        if p.user_confirmation is not None and t.status == USER_CONFIRMING:
            due = at + p.user_confirmation  # wall-clock time by contract
            t.confirmation_due_at = due
            o.timers[T_CONFIRMATION] = due
            o.emit("sla.activated", clock=UC, due_at=due, policy=p.name)

    def _end_confirmation(self, o: Outcome, t: Ticket, p: Policy, *, fulfilled: bool) -> None:
        if t.confirmation_due_at is None:
            return
        o.emit(
            "sla.fulfilled" if fulfilled else "sla.cancelled",
            clock=UC,
            due_at=t.confirmation_due_at,
            policy=p.name,
            **({"late": False} if fulfilled else {}),
        )
        t.confirmation_due_at = None
        o.timers[T_CONFIRMATION] = None

    @staticmethod
    def _customer_tz(t: Ticket, p: Policy) -> str:
        return t.customer_timezone or p.calendar.timezone

    def _record_message(
        self, o: Outcome, t: Ticket, m: ib.Message, author: str, at: datetime, *, language: str | None = None
    ) -> None:
        o.messages.append(
            {"message_id": m.message_id, "author": author, "text": m.text, "at": at, "attachments": len(m.attachments)}
        )
        if m.attachments:
            kept = [{"message_id": m.message_id, "author": author, **a.model_dump()} for a in m.attachments]
            t.attachments = [*t.attachments, *kept]
            o.detail = {**o.detail, "attachments": kept}
        if author == "merchant":
            return self._translate_for_customer(o, t, m)
        if author != "customer":
            return
        if self.languages is not None:
            # Already in the merchant's language: say so now, no worker round trip for nothing to translate.
            source = language or self.languages.detect(m.text, t.customer_locale)
            target = self.languages.normalize(t.merchant_locale)
            if source == target and source != "und":
                o.emit(
                    "message.translated",
                    message_id=m.message_id,
                    source_language=source,
                    target_language=target,
                    text=m.text,
                    provider="identity",
                    translated=False,
                )
                return
        o.tasks.append(Task("translate", {"ticket_id": t.id, "message_id": m.message_id}))

    def _translate_for_customer(self, o: Outcome, t: Ticket, m: ib.Message) -> None:
        """000: answer customers in their own language. A merchant message in another language than the
        customer's gets a `message.translated` into it, by the same translate worker; one already in the
        customer's language needs nothing (no identity event: the customer reads the original)."""
        if self.languages is not None:
            target = self.languages.normalize(t.customer_locale) if t.customer_locale else t.language
            if not target or target == "und":
                return  # nothing known about the customer's language: nothing to translate into
            # Detection costs ingest CPU, so it runs only where it can spare a worker round trip: a merchant
            # whose own language is the customer's almost always writes in it. Otherwise the worker detects
            # (and publishes nothing for a message that is in the customer's language after all).
            if (
                self.languages.normalize(t.merchant_locale) == target
                and self.languages.detect(m.text, t.merchant_locale) == target
            ):
                return
        o.tasks.append(Task("translate", {"ticket_id": t.id, "message_id": m.message_id}))


# Who handles each inbound type (cosmicpython's EVENT_HANDLERS): `ticket.opened` creates the ticket,
# every other type applies to an existing one. tests/unit/test_lifecycle.py checks it covers INBOUND.
Handler = Callable[[Lifecycle, Outcome, Ticket, Inbound, Policy], None]
HANDLERS: dict[str, Handler | None] = {
    "ticket.opened": None,  # Lifecycle._opened: no ticket yet, and it needs the classification
    "message.posted": Lifecycle._posted,
    "ticket.resolved": Lifecycle._resolved,
    "ticket.unresolved": Lifecycle._unresolved,
    "ticket.refunded": Lifecycle._refunded,
    "ticket.appealed": Lifecycle._appealed,
    "ticket.platform_decided": Lifecycle._platform_decided,
    "survey.answered": Lifecycle._survey_answered,
    "survey.reminder_requested": Lifecycle._reminder_requested,
    "ticket.urged": Lifecycle._urged,
    "ticket.reopened": Lifecycle._reopened,
    "ticket.withdrawn": Lifecycle._withdrawn,
    "ticket.closed": Lifecycle._closed,
    "chat.transfer_requested": Lifecycle._transfer_requested,
    "agent.availability_changed": None,  # about an agent, not a ticket: services.core.routing via the store
    "order.placed": None,  # not a ticket event (subject = order id): services.store.conversion records it
}
