"""urgent4 session (issue #17): the gaps blind set 4 showed (now a development set), closed in the 15
trained languages by cue sets and look-alike exclusions of the safety lexicon: baby food (puree, jar,
pouch) + a foreign object; a mobility device (e-bike, scooter, bicycle, wheelchair, ladder, helmet) + a
part that came off + a fall, or a fall + pain/body; an appliance that will not switch off + a flame or
sparks; shock verbs and numbness next to an appliance (çarptı, megcsapott, châtaigne, 电了我...); a
lawyer/court + a social network + posting; consumer councils (消委會, 1999) and forums (連登, PTT, Dcard) as
exposure. Look-alikes: furniture legs (a combined cue must be absent: ``"!furniture"``), price hype built
on kill/fire/explosion in every language, shop reviews (Shopee, Lazada), parcels that arrived with a part
off and nobody riding. None of these sentences is from blind set 4; the `urgent_dev.jsonl` rows
`-23`..`-29` are the training-side list."""

from __future__ import annotations

import pytest

from services.language import classify as C


@pytest.mark.parametrize(
    ("text", "hazard"),
    [
        # baby food + a foreign object
        ("There was a sliver of glass in the baby puree pouch", "foreign_object"),
        ("En el potito había un pedacito de metal", "foreign_object"),
        ("Im Karottenbrei war ein Stückchen Metall", "foreign_object"),
        ("Bebek mamasında metal parçası vardı", "foreign_object"),
        ("Trong hũ cháo ăn dặm có vụn thủy tinh", "foreign_object"),
        ("果泥里吃出金属碎片", "foreign_object"),
        # a mobility device: part off + fall, or fall + pain / body
        ("The bike's front wheel came off and I fell, my shoulder hurts", "injury"),
        ("La roue du vélo s'est détachée, je suis tombé", "injury"),
        ("Der Lenker vom Roller hat sich gelöst, ich bin gestürzt", "injury"),
        ("Koło od hulajnogi odpadło, przewróciłem się", "injury"),
        ("Roda skuter tercabut, saya terjatuh", "injury"),
        ("滑板车把手脱落，孩子摔倒了", "injury"),
        # an appliance that will not switch off + a flame or sparks
        ("The toaster won't switch off and sparks came out", "fire"),
        ("Il ferro da stiro non si spegne e ho visto una fiammata", "fire"),
        ("Kettle listrik gak bisa mati, keluar percikan api", "fire"),
        ("暖风机关不掉，还冒火花", "fire"),
        # shock verbs / numbness next to an appliance
        ("Saç kurutma makinesi çarptı, elim uyuştu", "electric_shock"),
        ("A vasaló megcsapott", "electric_shock"),
        ("Le chargeur m'a mis une châtaigne", "electric_shock"),
        ("插座电了我一下", "electric_shock"),
        ("Pengering rambut kena karan, tangan kebas", "electric_shock"),
        # a lawyer + a social network + posting; consumer councils and forums
        ("My lawyer is in the loop and the whole story goes on Instagram", "high_risk_complaint"),
        ("Mi abogado lo sabe y lo subo a TikTok", "high_risk_complaint"),
        ("Az ügyvédem tudja, és megy az egész a Facebookra", "high_risk_complaint"),
        ("唔退款我就報消委會", "high_risk_complaint"),
        ("不處理我就打1999，再放上PTT", "high_risk_complaint"),
        ("唔理我就上連登爆你", "high_risk_complaint"),
    ],
)
def test_urgent4_gaps_are_urgent(text: str, hazard: str) -> None:
    assert hazard in C.safety_hazards(text), (text, C.safety_hazards(text))


@pytest.mark.parametrize(
    "text",
    [
        # parts off in the box, nobody riding; falling in love
        "The scooter fell over in the van and the handlebar came off, nobody was riding it",
        "I fell in love with this e-bike, does the helmet come in M?",
        "Das Fahrrad ist beim Transport umgefallen, der Lenker hat sich gelöst",
        "Il monopattino è arrivato con il manubrio staccato",
        "Roda sepeda copot pas dibuka dari kardus",
        "滑板车收到时轮子掉了",
        # furniture legs
        "Table leg arrived broken and the chair legs are scratched",
        "La silla llegó con una pata rota",
        "Der Tisch hat ein abgebrochenes Bein",
        "Kursi datang dengan kaki patah",
        "A szék lába eltört szállításkor",
        "Bàn nhận được bị gãy chân, đổi giúp mình",
        "เก้าอี้ขาหัก ขอเปลี่ยน",
        "椅子腿断了，桌子也刮花了",
        # price hype built on kill / fire / explosion
        "Fire prices! Killer deals this week",
        "Precios de locura, ofertas de fuego",
        "Prix de folie, promo explosive",
        "Feuerpreise und Mörderpreise",
        "Preço de matar, promo explosiva",
        "Prezzi di fuoco, prezzi che uccidono",
        "Ceny ogień 🔥 zabójcze promocje",
        "Fiyatlar ateş gibi, bomba fiyat",
        "Gyilkos árak, tűzforró akció",
        "Harga mati, diskon bakar",
        "Harga gila, jualan bakar",
        "Giá hủy diệt, sale cháy, cháy hàng",
        "ราคาไฟไหม้ ลดแรงระเบิด",
        "价格杀疯了 秒杀 火爆",
        # reviews, appliances that are fine, a lawyer who likes the shop
        "I'll leave a review on Shopee",
        "我會喺Shopee寫評價",
        "Saya akan kasih ulasan di Lazada",
        "連登有人推薦你哋，想問有冇貨",
        "我在PTT看到你們的開箱文，還有現貨嗎",
        "My lawyer friend recommended your shop on Facebook",
        "Does the toaster switch off by itself?",
        "The kettle won't switch off automatically, is that normal?",
        "The electric fireplace stays on all night and the flame effect is lovely",
        "Bebê dormiu com o ventilador ligado",
        "Baby food jar: is it glass or plastic?",
        "El potito viene en tarro de vidrio?",
        "果泥是玻璃瓶装的吗",
    ],
)
def test_urgent4_look_alikes_stay_calm(text: str) -> None:
    assert C.safety_hazards(text) == set(), (text, C.safety_hazards(text))
