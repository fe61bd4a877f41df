"""Urgent beyond hazard words (urgent2 session): high-risk complaints (seed 002: "風險商品、高危投訴問題")
and dangerous failures that name no hazard, caught by the safety lexicon's cues, with their
look-alikes kept calm. The examples are the ones that were missed inline before the change."""

from __future__ import annotations

import pytest

from services.language import Classifier, default_classifier
from services.language import classify as C


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return default_classifier()


@pytest.mark.parametrize(
    ("text", "hazard"),
    [
        # (b) a complaint to a regulator or the police, legal action, the media
        ("I will report you to the consumer protection agency and my lawyer", "high_risk_complaint"),
        ("我要去12315投诉你们，还要找媒体曝光", "high_risk_complaint"),
        ("Saya akan melaporkan toko ini ke polisi", "high_risk_complaint"),
        ("Je vais saisir la DGCCRF et porter plainte", "high_risk_complaint"),
        ("Mein Anwalt wird Sie verklagen", "high_risk_complaint"),
        ("Vou registrar uma denúncia no Procon", "high_risk_complaint"),
        ("Zgłoszę sprawę do UOKiK", "high_risk_complaint"),
        ("Tüketici Hakem Heyeti'ne başvuracağım", "high_risk_complaint"),
        ("我要向消保官申訴", "high_risk_complaint"),
        ("ฉันจะร้องเรียน สคบ.", "high_risk_complaint"),
        # (a) dangerous failures without a hazard word: cue combinations
        ("The stroller folded on my son's fingers when I opened it", "child_safety"),
        ("The car seat buckle opened by itself while I was driving", "child_safety"),
        ("The crib slats broke with my baby inside", "child_safety"),
        ("The high chair collapsed while my daughter was sitting in it", "child_safety"),
        ("My toddler had a button battery from the remote in his mouth", "choking"),
        ("O ímã do brinquedo soltou e meu bebê colocou na boca", "choking"),
        ("There was a piece of glass in my soup", "foreign_object"),
        ("在罐头里吃出了一块玻璃碴", "foreign_object"),
        ("Ada serangga di dalam minuman yang saya beli", "foreign_object"),
        ("The e-bike brakes failed going downhill", "brake_failure"),
    ],
)
def test_high_risk_complaints_and_dangerous_failures_are_urgent(clf: Classifier, text: str, hazard: str) -> None:
    got = clf.classify(text)
    assert got.urgent and f"safety:{hazard}" in got.labels, (text, got.labels)


@pytest.mark.parametrize(
    "text",
    [
        "Fire TV stick does not turn on",
        "The smoke grey colour is lovely",
        "killer price on this phone!",
        "shock-proof case for iPhone 15",
        "I will leave a bad review",
        "worst shop ever, refund me now",
        "my lawyer friend said the size runs small",  # a mention is not a threat
        "我朋友是律师，她说这件衣服偏小",
        "Teman saya pengacara bilang ukurannya kecil",
        "I'd like to report a problem with my order, the parcel is late",  # no authority
        "我要投诉快递太慢",  # a complaint to the shop, not to a regulator
        "Quero fazer uma reclamação sobre o atraso",
        "这款相机曝光怎么样？",  # camera exposure
        "Kérem a szüleim címére küldjék",  # címére is not CİMER
        "Is the glass jar dishwasher safe?",  # glass and jar, but nothing in the food
        "The vase arrived broken, pieces of glass everywhere in the box",
        "Can you tell me if the stroller folds flat?",  # child product, nothing failed
        "Il passeggino è arrivato rotto",
        "Does this toy have small parts? It's for my son",
        "The belt buckle is scratched",
        "Can I get the French press in black?",  # not "fren"
        "Do you sell court shoes in size 6?",
        "I'm a lawyer, please contact me about a bulk order",  # a lawyer, no threat
        "Chcę zgłosić usterkę urządzenia",  # urządzenie (device) is not urząd (office)
        "Quiero reclamar, el consumo de batería es muy alto",  # consumo: battery use, not the agency
        "Ich möchte melden, dass das Gericht kalt ankam",  # Gericht: a dish
        "请联系工商银行付款",  # a bank, not 工商局
    ],
)
def test_look_alikes_stay_calm(text: str) -> None:
    assert C.safety_hazards(text) == set(), text
