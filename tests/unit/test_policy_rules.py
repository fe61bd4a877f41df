"""CONTRACT "Per policy" (the seeds' own rules), row by row for every built-in policy, and what the
events say kept on the ticket and carried on the outbound events (`note`, `detail`).

Given a ticket of a built-in policy / When the event the row speaks of comes / I expect the row's
effect under the policy the row names, and the generic table's effect under the others.
"""

from __future__ import annotations

import pytest

from services.core.lifecycle import NOTE_LIMIT, Lifecycle
from services.core.policies import BUILTIN, PolicyError, load_policies
from services.core.ticket import AWAITING_CUSTOMER, AWAITING_MERCHANT, CLOSED, T_BREACH, USER_CONFIRMING
from tests.fakes import ClassifyingLifecycle
from tests.unit.test_lifecycle import T0, Flow, H, msg, of

POLICIES = ("wish", "douyin", "chat")
REFUND = {"items": [{"item_id": "kettle", "quantity": 2}], "amount": "12.50", "currency": "EUR"}
EVIDENCE = {
    "message_id": "ev-1",
    "text": "agreed, see the chat log",
    "attachments": [{"url": "https://files.example/log.png", "content_type": "image/png", "size_bytes": 2048}],
}


def test_the_builtins_carry_the_contract_settings():
    # CONTRACT: wish (true, true, true, [post_purchase], false, true), douyin (false, false, false, all,
    # true, false), chat (true, true, true, all, false, true)
    def row(p):
        return (
            p.withdrawable,
            p.merchant_can_close,
            p.refund_closes,
            p.refund_groups,
            p.evidence_after_settlement,
            p.counts_toward_health,
        )

    assert row(BUILTIN["wish"]) == (True, True, True, ("post_purchase",), False, True)
    assert row(BUILTIN["douyin"]) == (False, False, False, None, True, False)
    assert row(BUILTIN["chat"]) == (True, True, True, None, False, True)


# -- row 1: a Douyin service request cannot be revoked ------------------------------------------
@pytest.mark.parametrize("policy", POLICIES)
def test_withdraw_is_refused_only_on_douyin(policy):
    f = Flow()
    f.open(policy, T0)
    o = f.apply("ticket.withdrawn", T0 + H, {"reason": "changed my mind"})
    if policy == "douyin":
        assert o.rejection is not None and o.rejection[0] == "invalid_transition"
        assert f.status == AWAITING_MERCHANT and o.emits == []
    else:
        assert o.rejection is None and f.status == CLOSED
        assert of(o, "ticket.status_changed")[0]["note"] == "changed my mind"


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("by", ["merchant", "customer", None, "platform"])
def test_close_on_douyin_only_by_the_platform(policy, by):
    f = Flow()
    f.open(policy, T0)
    o = f.apply("ticket.closed", T0 + H, {"by": by} if by else {})
    if policy == "douyin" and by != "platform":
        assert o.rejection is not None and o.rejection[0] == "invalid_transition" and f.status == AWAITING_MERCHANT
    else:
        assert o.rejection is None and f.status == CLOSED


# -- row 2: a Douyin refund does not close, is not a reply, the clock keeps running ---------------
@pytest.mark.parametrize("policy", POLICIES)
def test_refund_closes_except_on_douyin_where_it_is_recorded_and_the_clock_runs(policy):
    f = Flow()
    f.open(policy, T0, category="item_problem")  # post-purchase, so Wish may refund it
    due = f.timers[T_BREACH]
    o = f.apply("ticket.refunded", T0 + H, REFUND, id="rf")
    assert o.rejection is None
    assert f.ticket.refund["items"] == [{"item_id": "kettle", "quantity": 2}]
    assert f.ticket.refund["amount"] == "12.50" and f.ticket.refund["currency"] == "EUR"
    assert o.detail["items"] == [{"item_id": "kettle", "quantity": 2}]  # the timeline row keeps it
    if policy == "douyin":
        assert f.status == AWAITING_MERCHANT and o.emits == [] and o.facts == []  # not a response
        assert f.timers[T_BREACH] == due and f.ticket.first_response_at is None
        assert len(f.ticket.refunds) == 1
    else:
        assert f.status == CLOSED and "first_response" in [x.kind for x in o.facts]


# -- row 3: a Douyin resolve after a refund or an agreement needs evidence ----------------------
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("settled", ["refunded", "agreed"])
def test_settled_resolve_needs_an_attachment_on_douyin(policy, settled):
    f = Flow()
    f.open(policy, T0, category="item_problem")
    if settled == "refunded" and policy == "douyin":
        f.apply("ticket.refunded", T0 + H, REFUND)
    if settled == "refunded" and policy != "douyin":
        return  # elsewhere a refund closes the ticket: nothing left to resolve
    data = {"agreed": True} if settled == "agreed" else {}
    bare = f.apply("ticket.resolved", T0 + 2 * H, {**data, "message": {**EVIDENCE, "attachments": []}})
    if policy != "douyin":
        assert bare.rejection is None and f.status == CLOSED
        return
    assert bare.rejection is not None and bare.rejection[0] == "missing_evidence"
    assert f.status == AWAITING_MERCHANT and bare.emits == []
    ok = f.apply("ticket.resolved", T0 + 3 * H, {**data, "message": EVIDENCE})
    assert ok.rejection is None and f.status == USER_CONFIRMING
    assert f.ticket.attachments == [
        {
            "message_id": "ev-1",
            "author": "merchant",
            "url": "https://files.example/log.png",
            "content_type": "image/png",
            "size_bytes": 2048,
        }
    ]


def test_douyin_resolve_without_settlement_needs_no_evidence():
    f = Flow()
    f.open("douyin", T0)
    assert f.apply("ticket.resolved", T0 + H).rejection is None and f.status == USER_CONFIRMING


# -- row 4: Wish refunds only post-purchase tickets ----------------------------------------------
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("category", ["product_question", "change_address", "other", "item_problem"])
def test_wish_refunds_post_purchase_tickets_only(policy, category):
    f = Flow()
    f.open(policy, T0, category=category)
    o = f.apply("ticket.refunded", T0 + H, REFUND)
    if policy == "wish" and category != "item_problem":
        assert o.rejection is not None and o.rejection[0] == "invalid_transition" and f.status == AWAITING_MERCHANT
    else:
        assert o.rejection is None


# -- TOML: a policy may choose every rule, validated like the other keys --------------------------
def test_a_toml_policy_sets_the_rules(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        '[policies.shopee]\ncalendar = "24/7"\nresponse = "PT24H"\nwithdrawable = false\n'
        'merchant_can_close = false\nrefund_closes = false\nrefund_groups = ["post_purchase", "order_support"]\n'
        "evidence_after_settlement = true\ncounts_toward_health = false\n"
        '[policies.douyin]\nwithdrawable = true\nrefund_groups = "all"\n'
    )
    p = load_policies(path)
    s = p["shopee"]
    assert (s.withdrawable, s.merchant_can_close, s.refund_closes, s.evidence_after_settlement) == (
        False,
        False,
        False,
        True,
    )
    assert s.refund_groups == ("post_purchase", "order_support") and not s.counts_toward_health
    assert p["douyin"].withdrawable and not p["douyin"].merchant_can_close and p["douyin"].refund_groups is None
    lc = ClassifyingLifecycle(Lifecycle(p))
    f = Flow(lc)
    f.open("douyin", T0)
    assert f.apply("ticket.withdrawn", T0 + H).rejection is None and f.status == CLOSED


@pytest.mark.parametrize(
    "line,complaint",
    [
        ('withdrawable = "no"', "policies.x.withdrawable: expected true or false"),
        ("counts_toward_health = 1", "policies.x.counts_toward_health: expected true or false"),
        ('refund_groups = ["pre_purchase", "gifts"]', "policies.x.refund_groups: unknown group 'gifts'"),
        ('refund_groups = "some"', 'policies.x.refund_groups: expected "all" or a list of groups'),
    ],
)
def test_bad_rule_settings_name_the_key(tmp_path, line, complaint):
    path = tmp_path / "p.toml"
    path.write_text(f'[policies.x]\ncalendar = "24/7"\nresponse = "PT1H"\n{line}\n')
    with pytest.raises(PolicyError) as e:
        load_policies(path)
    assert complaint in str(e.value)


# -- what the events say is kept -------------------------------------------------------------------
def test_reasons_notes_and_comments_are_kept_and_carried_cut_at_2000():
    long = "x" * 999
    f = Flow()
    f.open("douyin", T0, tz="Asia/Shanghai")
    u = f.apply("ticket.unresolved", T0 + H, {"reason": "cannot reach the customer"})
    assert of(u, "ticket.escalated")[0]["detail"] == "cannot reach the customer"
    r = f.apply("ticket.platform_decided", T0 + 2 * H, {"decision": "rejected", "note": long})
    assert of(r, "ticket.status_changed")[0]["note"] == long
    f.apply("ticket.resolved", T0 + 3 * H)
    comment = "y" * 5000  # a survey comment may be long: it travels cut at 2,000 characters
    s = f.apply("survey.answered", T0 + 4 * H, {"rating": 2, "comment": comment})
    assert of(s, "ticket.escalated")[0]["detail"] == "y" * NOTE_LIMIT
    assert of(s, "ticket.status_changed")[0]["note"] == "y" * NOTE_LIMIT
    kept = [{k: v for k, v in n.items() if k in ("type", "reason", "note", "comment")} for n in f.ticket.notes]
    assert kept == [
        {"type": "ticket.unresolved", "reason": "cannot reach the customer"},
        {"type": "ticket.platform_decided", "note": long},
        {"type": "survey.answered", "comment": comment},  # the ticket keeps it whole
    ]


def test_customer_attachments_are_kept_with_their_message():
    f = Flow()
    f.open("wish", T0)
    f.apply("message.posted", T0 + H, msg("merchant"))
    m = msg("customer", "photo of the damage")
    m["message"]["attachments"] = [{"url": "https://x.example/a.jpg", "content_type": "image/jpeg"}]
    o = f.apply("message.posted", T0 + 2 * H, m)
    assert f.status == AWAITING_MERCHANT
    assert f.ticket.attachments[0]["url"] == "https://x.example/a.jpg"
    assert f.ticket.attachments[0]["author"] == "customer" and f.ticket.attachments[0]["size_bytes"] is None
    assert o.detail["attachments"][0]["content_type"] == "image/jpeg"


def test_channel_and_customer_are_kept_and_waiting_since_follows_awaiting_merchant():
    f = Flow()
    f.open("chat", T0, tz="Asia/Jakarta", channel="tokopedia")
    assert f.ticket.channel == "tokopedia" and f.ticket.customer_id == "c-1"
    assert f.ticket.waiting_since == T0
    f.apply("message.posted", T0 + H, msg("merchant"))
    assert f.status == AWAITING_CUSTOMER and f.ticket.waiting_since is None
    f.apply("message.posted", T0 + 5 * H, msg("customer"))
    assert f.ticket.waiting_since == T0 + 5 * H


def test_a_chat_answer_is_a_conversion_fact_only_on_chats_with_a_customer():
    f = Flow()
    f.open("chat", T0, tz="UTC")
    o = f.apply("message.posted", T0 + H, msg("merchant"))
    assert [(x.kind, x.customer_id) for x in o.facts if x.kind == "chat_answered"] == [("chat_answered", "c-1")]
    g = Flow()
    g.open("wish", T0, tz="UTC")
    assert not [x for x in g.apply("message.posted", T0 + H, msg("merchant")).facts if x.kind == "chat_answered"]
