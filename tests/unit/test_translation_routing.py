"""Which customer messages go to the translate worker, and which are answered in place."""

from __future__ import annotations

from schemas import decode
from schemas.builders import cloudevent_bytes
from services.core.lifecycle import Lifecycle
from services.core.policies import load_policies
from tests.fakes import ClassifyingLifecycle, FakeClassification


class FakeLanguages:
    def detect(self, text: str, locale: str | None) -> str:
        return "de" if "Deckel" in text else ("und" if not text.strip() else "en")

    def normalize(self, locale: str) -> str:
        return locale.split("-")[0]


def classify(text, locale):
    return FakeClassification(language=FakeLanguages().detect(text, locale))


def ev(type_, data, id_, time_="2026-03-02T09:00:00Z"):
    return decode(cloudevent_bytes(type_, "T", time_, data, id=id_))


def opened(text, merchant_locale="en"):
    return ev(
        "ticket.opened",
        {
            "merchant_id": "m",
            "policy": "wish",
            "merchant_locale": merchant_locale,
            "message": {"message_id": "m1", "text": text},
        },
        "e1",
    )


LC = ClassifyingLifecycle(Lifecycle(load_policies(), FakeLanguages()), classify)


def test_a_message_in_the_merchants_language_is_answered_in_place_as_identity():
    o = LC.apply(None, opened("Where is my parcel?"))
    assert o.tasks == []
    tr = [e.data for e in o.emits if e.type == "message.translated"]
    assert tr == [
        {
            "merchant_id": "m",
            "message_id": "m1",
            "source_language": "en",
            "target_language": "en",
            "text": "Where is my parcel?",
            "provider": "identity",
            "translated": False,
        }
    ]


def test_a_message_in_another_language_goes_to_the_translate_worker():
    o = LC.apply(None, opened("Der Deckel ist gesprungen"))
    assert [(t.actor, t.kwargs) for t in o.tasks] == [("translate", {"ticket_id": "T", "message_id": "m1"})]
    assert not [e for e in o.emits if e.type == "message.translated"]


def test_an_undetermined_language_goes_to_the_worker_rather_than_being_called_identity():
    t = LC.apply(None, opened("Hello", merchant_locale="und")).ticket
    o = LC.apply(
        t,
        ev(
            "message.posted",
            {"message": {"message_id": "m2", "author": "customer", "text": " "}},
            "e2",
            "2026-03-02T10:00:00Z",
        ),
    )
    assert [t.kwargs["message_id"] for t in o.tasks] == ["m2"]


def _merchant_says(text: str):
    t = LC.apply(None, opened("Der Deckel ist gesprungen")).ticket  # a German-speaking customer
    return LC.apply(
        t,
        ev(
            "message.posted",
            {"message": {"message_id": "m2", "author": "merchant", "text": text}},
            "e2",
            "2026-03-02T10:00:00Z",
        ),
    )


def test_a_merchant_message_in_another_language_goes_to_the_worker_for_the_customer():
    # 000: answer customers in their own language; CONTRACT: a merchant message whose language differs
    # from the customer's gets a message.translated into the customer's language
    o = _merchant_says("Sorry")
    assert [t.kwargs["message_id"] for t in o.tasks] == ["m2"]
    assert not [e for e in o.emits if e.type == "message.translated"]


def test_a_merchant_message_already_in_the_customers_language_needs_nothing():
    o = _merchant_says("Der Deckel wird ersetzt")
    assert o.tasks == [] and not [e for e in o.emits if e.type == "message.translated"]


def test_without_a_languages_port_every_customer_message_goes_to_the_worker():
    o = ClassifyingLifecycle(Lifecycle(load_policies()), classify).apply(None, opened("Where is my parcel?"))
    assert [t.actor for t in o.tasks] == ["translate"]
