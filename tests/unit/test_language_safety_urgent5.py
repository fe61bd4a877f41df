"""urgent5 session (issue #17): harm told without a hazard word, closed by kind in the 15 trained languages
with cue sets of the safety lexicon, and the look-alikes that bare care or skin words used to flag. Care words
(hospital, doctor, vet) and skin reactions (rash, itchy, swollen) are cues now: urgent unless a calm context is
named (a recommendation, a suitability question, a delivery put off); emergency words (ER, ambulance, poison
control) stay hazards. Indirect harm: dizziness/fainting (not about a price), raw skin, sores, bruises or
blisters on a person or a pet, a sick pet, furniture tipping onto a child, a cord round a neck, hot liquid
splashed onto someone, fumes + headache or vomiting, a gas smell, a fracture. Complaints: class actions,
health and food-safety authorities, TV programmes and tabloids with a send or post verb. None of these
sentences is from blind set 5; the `urgent_dev.jsonl` rows `udev5-` are the training-side list."""

from __future__ import annotations

import pytest

from services.language import classify as C


@pytest.mark.parametrize(
    ("text", "hazard"),
    [
        # dizziness, fainting, palpitations
        ("After two of the diet pills I felt dizzy and my heart was racing", "medical"),
        ("Tras tomar las cápsulas me desmayé en la cocina", "medical"),
        ("Seit dem Tee habe ich Herzrasen und Schwindel", "medical"),
        ("Dopo la tisana dimagrante ho avuto palpitazioni e capogiri", "medical"),
        ("Abis minum teh pelangsing itu saya pingsan", "medical"),
        ("吃了这个代餐粉以后心慌头晕", "medical"),
        # a pet or an older person harmed
        ("The new harness rubbed my dog's armpits raw, there are open sores", "injury"),
        ("Le harnais a laissé des plaies sous les pattes de mon chien", "injury"),
        ("Nach dem Futter hat sich unsere Katze ständig übergeben", "poisoning"),
        ("Sejak makan snack itu kucing saya muntah terus", "poisoning"),
        ("Sau khi ăn pate con mèo nhà mình nôn liên tục", "poisoning"),
        # furniture tipping onto a child
        ("The bookcase tipped onto my son while he was climbing it", "injury"),
        ("A estante tombou em cima da minha filha", "injury"),
        ("Regał przewrócił się na synka, ma guza na czole", "injury"),
        ("书架倒下来砸到孩子的腿", "injury"),
        # a cord round a neck
        ("The blind cord got wrapped around my toddler's neck", "choking"),
        ("Der Bändel der Jacke hat sich um den Hals meiner Tochter gewickelt und zugezogen", "choking"),
        ("Tali tas melilit leher anak saya", "choking"),
        # hot liquid splashed onto someone
        ("The thermos lid burst and hot tea went all over my daughter's leg", "burn"),
        ("La tapa del termo saltó y el agua hirviendo le cayó encima a mi hijo en la mano", "burn"),
        ("保温杯盖子弹飞 开水溅到我手上", "burn"),
        # fumes and gas
        ("The new sofa has a strong chemical smell, we all have headaches", "poisoning"),
        ("Nowy dywan strasznie śmierdzi, dzieci mają bóle głowy", "poisoning"),
        ("The camping stove smells of gas even when it's off", "fire"),
        ("Il fornellino da campeggio ha una perdita di gas", "fire"),
        # a fracture on a body part
        ("Dziadek przewrócił się przez chodzik i ma złamaną rękę", "injury"),
        # complaints: class actions, health and food-safety authorities, TV and tabloids
        ("We are filing a class action together with other buyers", "high_risk_complaint"),
        ("Nous lançons une action de groupe", "high_risk_complaint"),
        ("Wir reichen eine Sammelklage ein", "high_risk_complaint"),
        ("Vamos abrir uma ação coletiva", "high_risk_complaint"),
        ("Birlikte toplu dava açacağız", "high_risk_complaint"),
        ("我们要联名起诉你们", "high_risk_complaint"),
        ("I have notified environmental health about the tins", "high_risk_complaint"),
        ("Ho segnalato il lotto all'ASL", "high_risk_complaint"),
        ("Zgłosiłem to do sanepidu", "high_risk_complaint"),
        ("Saya sudah lapor ke BPOM soal produk ini", "high_risk_complaint"),
        ("I'm sending the video to a consumer show on TV", "high_risk_complaint"),
        ("Mando tudo pro Fantástico", "high_risk_complaint"),
        ("Az egészet elküldöm a Blikknek", "high_risk_complaint"),
        ("Em sẽ gửi báo chí vụ này", "high_risk_complaint"),
    ],
)
def test_urgent5_gaps_are_urgent(text: str, hazard: str) -> None:
    assert hazard in C.safety_hazards(text), (text, C.safety_hazards(text))


@pytest.mark.parametrize(
    "text",
    [
        # the customer in hospital, a delivery put off
        "I'm in hospital next week, can you postpone the delivery?",
        "Estoy en el hospital, ¿podéis aplazar la entrega a la semana que viene?",
        "Ich bin im Krankenhaus, bitte die Lieferung verschieben",
        "Jestem w szpitalu, proszę przesunąć dostawę na przyszły tydzień",
        "Saya dirawat di rumah sakit, tolong tunda pengiriman ke minggu depan",
        "我下周住院，请晚点发货",
        # a doctor's or vet's recommendation
        "My vet recommended this food, is there a 10 kg bag?",
        "Mi veterinario me recomendó este champú, ¿tenéis de 500 ml?",
        "Der Tierarzt hat dieses Futter empfohlen, gibt es 5 kg?",
        "O pediatra indicou essa pomada, ainda tem?",
        "Bác sĩ khuyên dùng loại sữa này, còn hàng không shop?",
        "獸醫推薦的飼料還有貨嗎",
        # a cream for a rash, a question about irritation
        "Is this cream suitable for eczema and itchy skin?",
        "Cette crème convient-elle aux peaux sensibles qui grattent ?",
        "Czy ten krem nadaje się na wysypkę?",
        "Krim ni sesuai untuk kulit gatal tak?",
        "這款乳液適合敏感肌嗎？會不會癢？",
        # fainting or dizziness at a price
        "I nearly fainted at the price, is there a discount?",
        "Casi me desmayo con el precio, ¿hay cupón?",
        "Fiyatı görünce başım döndü, indirim var mı?",
        # a pet or grandmother mentioned, nothing happened
        "My dog loves the new bed, do you have it in grey?",
        "Meine Oma ist 90, ist der Rollator leicht?",
        # the media or an authority mentioned without a threat
        "I saw your blender on the TV news, is it in stock?",
        "Is this supplement FDA approved?",
        "Produk ini sudah terdaftar BPOM belum kak?",
        "I'm a lawyer, please contact me about a bulk order",
    ],
)
def test_urgent5_look_alikes_stay_calm(text: str) -> None:
    assert C.safety_hazards(text) == set(), (text, C.safety_hazards(text))
