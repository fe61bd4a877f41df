"""urgent3 session (issue #17): the gaps blind set 3 showed (now a development set), closed in the 15
trained languages by cue sets and look-alike exclusions of the safety lexicon: swollen or leaking
batteries (battery item + swelling/leak), contaminated food that made someone ill (food or foreign
object + illness), a child product folding or closing on a child (child product + stuck + body part),
electric-shock words, viral/media threats next to a lawyer or the police (authority + viral, authority +
social network + post); look-alikes: colours named after smoke/ash/fire, price hype (explosive, shocking,
bomb prices, 炸, 殺到爆, sốc, ช็อก, ระเบิด, meledak, meletup) and "nobody was hurt". None of these
sentences is from blind set 3; the `urgent_dev.jsonl` rows `-15`..`-22` are the training-side list."""

from __future__ import annotations

import pytest

from services.language import classify as C


@pytest.mark.parametrize(
    ("text", "hazard"),
    [
        # swollen / leaking batteries
        ("My vape battery is bulging and the case is split open", "battery"),
        ("La batería del portátil está hinchada y levanta el teclado", "battery"),
        ("Der Akku vom Handy ist aufgebläht, das Display hebt sich", "battery"),
        ("Baterai HP saya menggembung sampai casingnya terbuka", "battery"),
        ("Pin điện thoại bị phồng đẩy màn hình lên", "battery"),
        ("แบตโทรศัพท์บวมจนจอดันออกมา", "battery"),
        ("充电宝鼓起来了", "battery"),
        # contaminated food + illness
        ("There were maggots in the flour and we all got sick after the pancakes", "poisoning"),
        ("Il y avait des insectes dans la farine, on est tombés malades", "poisoning"),
        ("Nach dem Müsli sind wir alle krank geworden, da waren Käfer drin", "poisoning"),
        ("Tinha larvas na aveia e meu filho passou mal", "poisoning"),
        ("Ada ulat di tepung, anak saya sakit perut", "poisoning"),
        ("面粉里有虫，吃了以后拉肚子", "poisoning"),
        # a child product closing on a child
        ("The high chair tray snapped shut and her finger got stuck", "child_safety"),
        ("El cochecito se plegó y le quedó el dedo atrapado", "child_safety"),
        ("Il passeggino si è chiuso e la mano è rimasta incastrata", "child_safety"),
        ("婴儿床的围栏突然合上，手被夹在中间", "child_safety"),
        # electric shock
        ("Saya kena renjat masa cas telefon", "electric_shock"),
        ("The toaster gave me a shock off the metal side", "electric_shock"),
        ("Als ich den Wasserkocher anfasste, hat es mir eine gewischt", "electric_shock"),
        # viral / media threats with a lawyer or the police
        ("I've talked to my lawyer and I'm going to make this go viral", "high_risk_complaint"),
        ("Já falei com meu advogado, vou expor vocês e viralizar", "high_risk_complaint"),
        ("Avukatıma danıştım, bu olayı herkese duyuracağım", "high_risk_complaint"),
        ("Saya sudah lapor polisi dan akan viralkan di medsos", "high_risk_complaint"),
        ("已经找了律师，我会让这件事上热搜", "high_risk_complaint"),
        ("แจ้งตำรวจแล้ว จะแฉให้เป็นกระแส", "high_risk_complaint"),
    ],
)
def test_urgent3_gaps_are_urgent(text: str, hazard: str) -> None:
    assert hazard in C.safety_hazards(text), (text, C.safety_hazards(text))


@pytest.mark.parametrize(
    "text",
    [
        "Do you have this hoodie in smoke grey or ash grey?",
        "Explosive prices this week, is the kettle included?",
        "Killer discount, crazy prices, love it",
        "Is the flame orange colour available?",
        "¿Lo tienen en color humo? Precios explosivos",
        "Prix explosifs ! Le pull existe en gris cendre ?",
        "Wybuchowe ceny, czy jest kolor dymny szary?",
        "Fiyatlar bomba, indirim patladı!",
        "Diskon meledak, warna abu asap masih ada?",
        "Harga meletup! Ada warna kelabu asap?",
        "Giá sốc, còn màu xám khói không shop?",
        "ราคาช็อก มีสีเทาควันไหม",
        "โปรระเบิด ลดราคาถึงวันไหน",
        "价格太炸了，烟熏灰还有吗",
        "價格殺到爆，煙燻灰還有嗎",
        "The plate arrived broken, no one was hurt",
        "La taza llegó rota, el embalaje fatal",  # Spanish "fatal": awful
        "Kubek przyszedł pęknięty, nikt nie ucierpiał",
        "杯子碎了，没人受伤",
        "This dress went viral on TikTok, is it back in stock?",  # viral, no threat
        "Este vestido se hizo viral en TikTok, ¿hay stock?",
        "这件衣服上热搜了，还有吗？",
        "I'm a lawyer, can you send the invoice to my firm?",
        "Tôi là luật sư, muốn đăng ký tài khoản",
        "Is the power bank compatible with iPhone 15?",
        "Je suis malade, pouvez-vous livrer le riz demain ?",  # ill, nothing wrong with the food
        "Ich bin krank, bitte liefern Sie die Milch später",
        "The stroller is stuck in customs, when will it arrive?",
    ],
)
def test_urgent3_look_alikes_stay_calm(text: str) -> None:
    assert C.safety_hazards(text) == set(), (text, C.safety_hazards(text))
