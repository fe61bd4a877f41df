"""urgent7 session (issue #17): the long tail of blind set 7 and the session's fresh list, by kind in the 15 trained
languages.

Recall: media threats with an ultimatum or a camera ("unless I get a refund", "sebelum cerita ni keluar", "wants to
film me"), social posts with an ultimatum; gas canisters, bottles and cookers that smell, leak or spit flame; choking
words with a mouth, a child, a small part or a part that came off; exercise equipment that bursts or collapses (yoga
balls, trampolines, swings, bunk beds) and cracked tailbones; sharp edges that cut; complaints to elected
representatives, product-safety regulators and consumer offices; a quoted cry or sentence ("it burns!", 「燙傷了」)
counts. Look-alikes: a title (game, film, book, series) asked for or gifted, a pre-purchase or certificate question,
sales hype, praise slang ("absolute fire", "está de muerte", "ไฟลุกเลย"), jobs, costumes and toy fire trucks, Turkish
negated verbs ("yaralanmadı"). None of these sentences is from blind set 7; the `urgent_dev.jsonl` rows `udev7-` are
the training-side list."""

from __future__ import annotations

import pytest

from services.language import classify as C


@pytest.mark.parametrize(
    "text",
    [
        # a quoted cry or sentence is the buyer's report, not a name
        'My son touched the iron and screamed "it burns!"',
        "She said 'my hand is bleeding' after the blade slipped off",
        "Mi hija gritó «¡quema!» al tocar el cargador",
        "他一摸就喊“烫伤了”",
        # media with an ultimatum or a camera
        "A reporter from the local news wants to film the heater next week, unless I get my money back",
        "Un periodista de la tele quiere hacer un reportaje sobre esta estufa",
        "Un journaliste de France 3 veut faire un reportage, sinon remboursez-moi",
        "Die Zeitung will einen Bericht drehen, es sei denn Sie erstatten den Betrag",
        "Um repórter da Globo quer fazer uma reportagem, a menos que devolvam o dinheiro",
        "Un giornalista vuole fare un servizio su questa stufa, altrimenti rimborsatemi",
        "Dziennikarz chce nakręcić materiał o tym grzejniku",
        "Muhabir haber yapacak, param iade edilmezse her şey yayınlanacak",
        "Az újságíró riportot akar készíteni, hacsak nem kapom vissza a pénzem",
        "Wartawan udah mau liputan, kalau dana ga dikembalikan semua keluar",
        "Wartawan dah call saya, baik refund sebelum cerita ni keluar",
        "Phóng viên muốn làm phóng sự về cái máy sưởi này",
        "นักข่าวจะมาทำข่าวเรื่องนี้ ถ้าไม่คืนเงิน",
        "记者说要来采访，否则就全部曝光",
        "Kalau uang ga dibalikin, aku spill toko ini di TikTok",
        # gas canisters, bottles and cookers
        "The camping gas canister is leaking and hissing at the valve",
        "La bombona de butano huele muchísimo y hace burbujas en la válvula",
        "La cartouche de gaz du réchaud fuit, ça siffle",
        "Die Gaskartusche vom Gaskocher zischt und ist undicht",
        "O botijão está vazando, cheiro forte na cozinha",
        "La bombola del fornellino perde e fischia",
        "Butla gazowa syczy i czuć mocno gaz",
        "Tüp gaz kaçırıyor, ocak tıslıyor",
        "A gázpalack szivárog és sziszeg",
        "Tabung gas yang baru bocor, bau banget",
        "Tong gas baru ni bocor, bau kuat",
        "Bình gas mới mua bị rò rỉ",
        "ถังแก๊สรั่ว มีฟองที่วาล์ว",
        "卡式炉的气罐突然喷火",
        # choking
        "The teether's cap came off in his mouth and he choked on it",
        "El bebé se atragantó con la pieza del sonajero",
        "Mon fils s'est étouffé avec l'embout du jouet",
        "Mein Sohn hat sich an dem Teil verschluckt",
        "Minha filha engasgou com a peça do brinquedo",
        "Mio figlio si è strozzato con il pezzo del gioco",
        "Syn zakrztusił się kawałkiem zabawki",
        "Kızımın boğazına oyuncağın parçası kaçtı",
        "A kisfiam félrenyelte a játék darabját és fuldoklott",
        "Anak saya tersedak potongan mainan",
        "Anak saya tercekik sebab kepala berus gigi tercabut dalam mulut",
        "Con tôi bị hóc mảnh đồ chơi",
        "ลูกสำลักชิ้นส่วนของเล่น",
        "孩子被玩具零件呛到了",
        "個仔嗆到咳唔停，玩具零件彈甩咗喺佢口入面",
        # a title veto needs a title word: a box, a game console or a delivered parcel is none
        "The box arrived melted and smoking, do you have a replacement?",
        "The game console caught fire last night, do you have a refund form?",
        "Le colis a été livré, le chargeur a pris feu, vous avez un formulaire ?",
        "La caja llegó y el cargador se llama X, salió humo al enchufarlo",
        # exercise equipment, tailbones
        "The yoga ball burst under me and I fell and cracked my tailbone",
        "瑜伽球突然爆掉，我往后摔，尾椎骨裂",
        # sharp edges
        "The edge of the toy is razor sharp, my daughter cut her lip and needed stitches",
        "Tepi mainan tajam, tangan anak saya luka berdarah",
        "Mép đồ chơi sắc như dao, con tôi bị đứt tay chảy máu",
        # complaint channels
        "I have written to my MP and to the Office for Product Safety",
        "J'ai écrit au député et fait un signalement sur Rappel Conso",
        "Ich habe das bei der Marktüberwachung gemeldet",
        "Yazdım, Ticaret Bakanlığına bildirdim",
        "Tôi đã gửi đơn lên Bộ Công Thương",
        "ร้องเรียนไปที่ศูนย์ดำรงธรรมแล้ว",
        "我已经给人大代表写了信",
    ],
)
def test_urgent7_kinds_are_urgent(text):
    assert C.safety_hazards(text), text


@pytest.mark.parametrize(
    "text",
    [
        # quoted names still do not count
        "Is the 'Dragon Fire' lamp available in blue?",
        "Esse batom na cor 'vermelho sangue' é matte?",
        "La candela al profumo di 'legna bruciata' dura tanto?",
        "《烈火英雄》蓝光有吗",
        # titles asked for or gifted
        "Do you have Catching Fire on blu-ray?",
        "Bought the Fire Emblem game for my nephew, can you gift wrap it?",
        "¿Tienen la novela Sangre y fuego en tapa dura?",
        "Vous avez le film Feu follet en DVD ?",
        "Habt ihr das Buch Blut und Feuer als Taschenbuch?",
        "Vocês têm o livro Fogo e Sangue?",
        "Avete il romanzo Il fuoco?",
        "Czy macie książkę Krew elfów?",
        "Ateş Böceği kitabı var mı?",
        "Megvan nálatok a Tűz és víz könyv?",
        "Ada jual buku Api Tauhid?",
        "Ada jual game Fire Force?",
        "Shop có bán phim Lửa Thiêng không?",
        "มีหนังสือเพลิงพระนางไหมคะ",
        "有卖《火影忍者》全集吗",
        # certificates and pre-purchase questions
        "Before I order: is it EN71 tested, no choking hazard for a 2 year old?",
        "¿Antes de comprar, tiene marcado CE? ¿Hay peligro de asfixia?",
        "Ist das Spielzeug ab 3 Jahren geeignet und ohne Kleinteile?",
        # sales hype
        "这款真的爆了，什么时候补货？",
        "Produk ini lagi meledak banget di FYP, masih ada stok?",
        # praise slang
        "these trainers are absolute fire, do you have a 9?",
        "Esta chaqueta está de muerte, ¿la tenéis en negro?",
        "Questo rossetto è buono da morire",
        "Essa camisa é linda de morrer",
        "ชุดนี้ปังมาก ไฟลุกเลย",
        "Bu elbise bomba gibi, bayıldım",
        "Kena racun dengan review korang kat TikTok, nak order satu",
        # jobs, costumes, toy fire trucks
        "Does the firefighter costume come with the toy fire truck?",
        "¿El disfraz incluye el casco? Quiere apagar incendios de mayor",
        "Saya polis trafik, nak cari kasut yang selesa",
        "I'm a nurse and need comfy shoes for long shifts",
        # Turkish negated verbs and longer reassurances
        "Çocuk yaralanmadı, sadece oyuncak kırıldı",
        "Kablo yanmadı ama çalışmıyor",
        "no thick smoke, it just died",
    ],
)
def test_urgent7_look_alikes_are_calm(text):
    assert not C.safety_hazards(text), (text, C._lexicon("safety").explain(C.fold(text), C.fold_keep_accents(text)))


def test_a_danger_after_a_turkish_negated_verb_still_counts():
    assert C.safety_hazards("Çocuk yaralanmadı ama kablo eridi ve duman çıktı")
