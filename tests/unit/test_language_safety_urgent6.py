"""urgent6 session (issue #17): false alarms first, then recall, by kind in the 15 trained languages.

False alarms: a short negation scope (NegEx-style, per language) cancels a hazard word that a negation governs
("no smoke", "nobody was hurt", "sin humo", "kein Rauch", "没有冒烟", "ไม่มีควัน", "duman yok") while negated
phrases that ARE the harm stay ("can't breathe", "won't switch off", "doesn't stop bleeding", "关不掉") and so
does a danger after a reassurance ("nobody was hurt but the cable melted"); hazard words inside a quoted name
('Rojo Fuego', 《烈火英雄》); safety-product orders and certificates, firefighters, fake blood, praise idioms; smoke
as a scent of a candle or incense. Recall: toxic substances drunk or mouthed (essential oils, vape liquid),
breathing trouble and blurred sight, skin peeling, infected eyes, burn compounds, cords round a neck, consumer
programmes and organisations, health inspectors and councils, hotlines dialled, Thai "แจ้ง อย.". None of these
sentences is from blind set 6; the `urgent_dev.jsonl` rows `udev6-` are the training-side list."""

from __future__ import annotations

import pytest

from services.language import classify as C


@pytest.mark.parametrize(
    "text",
    [
        "My daughter is not breathing properly after the bath toy's foam went in her mouth, she keeps gagging",
        "the cut on his palm from the broken blender jug doesn't stop bleeding",
        "Nobody was hurt but the power strip melted and smoke came out of it",
        "The fan heater won't turn off and smoke is coming out of the back",
        "La herida del niño con la cuchilla de la batidora no para de sangrar",
        "Nadie salió herido, pero el enchufe se derritió y salió humo",
        "Mi bebé no puede respirar bien desde que se metió la pieza en la boca",
        "Personne n'a été blessé, mais la multiprise a fondu et de la fumée est sortie",
        "La coupure au doigt de mon fils à cause du mixeur n'arrête pas de saigner",
        "Niemand wurde verletzt, aber die Steckdosenleiste ist geschmolzen und es kam Rauch raus",
        "Die Schnittwunde am Finger von dem Mixer hört nicht auf zu bluten",
        "Ninguém se machucou, mas a extensão derreteu e saiu fumaça",
        "O corte no dedo do meu filho com o liquidificador não para de sangrar",
        "Nessuno si è fatto male, ma la ciabatta si è sciolta ed è uscito fumo",
        "Il taglio al dito di mio figlio col frullatore non smette di sanguinare",
        "Nikomu nic się nie stało, ale listwa się stopiła i poszedł dym",
        "Rana na palcu syna od blendera nie przestaje krwawić",
        "Kimse yaralanmadı ama uzatma kablosu eridi ve duman çıktı",
        "Oğlumun parmağındaki blender kesiği durmadan kanıyor",
        "Senki nem sérült meg, de az elosztó megolvadt és füst jött ki belőle",
        "A fiam ujján a turmixgéptől kapott vágás nem áll el, folyamatosan vérzik",
        "Ga ada yang luka sih, tapi colokannya meleleh dan keluar asap",
        "Luka di jari anakku gara2 blender darahnya ga berhenti keluar",
        "Takde orang cedera, tapi plag tu cair dan keluar asap",
        "Luka kat jari anak saya sebab blender darah tak berhenti keluar",
        "Không ai bị thương, nhưng ổ cắm bị chảy và bốc khói",
        "Vết cắt trên tay con mình do máy xay chảy máu không ngừng",
        "ไม่มีใครเจ็บ แต่ปลั๊กพ่วงละลายและมีควันออกมา",
        "แผลที่นิ้วลูกจากเครื่องปั่นเลือดไหลไม่หยุด",
        "ลูกหายใจไม่ออกหลังจากกลืนชิ้นส่วนของเล่น",
        "没人受伤，但是插线板熔化了还冒烟",
        "孩子手指被搅拌机割伤，血一直止不住",
        "宝宝吞了玩具零件，现在不能呼吸",
        "沒人受傷，但是延長線融化了還冒煙",
        "小孩手指被果汁機割傷，血流不停",
        "My 2 year old drank some of the lavender essential oil from the diffuser, he's coughing and very sleepy",
        "Mi hija de 3 años se bebió el aceite esencial del difusor y está vomitando",
        "Mon fils a avalé de l'huile essentielle, il tousse beaucoup et il est tout mou",
        "Meine Tochter hat ätherisches Öl getrunken und muss sich übergeben",
        "Meu filho bebeu o óleo essencial do difusor e está vomitando",
        "Mio figlio ha bevuto l'olio essenziale e ora vomita",
        "Córka wypiła olejek eteryczny z dyfuzora i wymiotuje",
        "Oğlum uçucu yağı içti, kusuyor",
        "A kisfiam megitta az illóolajat és hány",
        "Anak saya minum minyak esensial dari diffuser, sekarang muntah",
        "Anak saya terminum minyak pati dari diffuser, muntah2",
        "Con mình uống phải tinh dầu trong máy khuếch tán, giờ bị nôn",
        "ลูกดื่มน้ำมันหอมระเหยเข้าไป ตอนนี้อาเจียน",
        "孩子喝了香薰精油，现在一直吐",
        "小孩喝了精油，一直吐",
        "My toddler got vape juice in his mouth from the pod, he's drowsy and pale",
        "the humidifier spews white dust, my son has been coughing all night and has trouble breathing",
        "El humidificador suelta polvo y a mi hijo le cuesta respirar",
        "Le slime a laissé les mains de ma fille rouges et la peau pèle",
        "The slime left my daughter's hands angry red and the skin is peeling",
        "Since using the lens solution my eye got infected and my vision is blurry",
        "Desde que uso la solución de lentillas tengo el ojo infectado y veo borroso",
        "I'm sending the photos to the health inspector and the local council",
        "J'envoie tout à l'inspection sanitaire",
        "จะแจ้ง อย. ให้มาตรวจร้านนี้",
        "Those fumes gave me a headache and I threw up",
    ],
)
def test_urgent6_dangers_are_urgent(text: str) -> None:
    assert C.safety_hazards(text), text


@pytest.mark.parametrize(
    "text",
    [
        "The toaster quit on day three, there was no spark, no flame, nothing. Please refund",
        "Mirror came cracked, no one got injured, just send another",
        "La tostadora dejó de ir, no hubo chispas ni humo, nada. Quiero el reembolso",
        "Le grille-pain ne marche plus, aucune étincelle, aucune flamme. Remboursez-moi",
        "Der Toaster geht nicht mehr, keine Funken, keine Flamme, nichts. Geld zurück bitte",
        "A torradeira parou, não teve faísca nem chama, nada. Quero reembolso",
        "Il tostapane non va più, nessuna scintilla, nessuna fiamma. Rimborso",
        "Toster przestał działać, nie było iskier ani płomienia. Proszę o zwrot",
        "Ekmek kızartma makinesi bozuldu, kıvılcım yok, alev yok. İade istiyorum",
        "A kenyérpirító elromlott, nem volt szikra, nem volt láng. Pénzt vissza",
        "Pemanggang rotinya rusak, ga ada percikan, ga ada api. Minta refund",
        "Pembakar roti dah rosak, takde percikan, takde api. Nak refund",
        "Máy nướng bánh hỏng rồi, không có tia lửa, không có khói. Hoàn tiền giúp mình",
        "เครื่องปิ้งขนมปังเสีย ไม่มีประกายไฟ ไม่มีเปลวไฟ ขอคืนเงิน",
        "烤面包机坏了，没有火花也没有冒烟，要退款",
        "烤麵包機壞了，沒有火花也沒有冒煙，想退款",
        "Can I order a smoke alarm, a carbon monoxide detector and a first aid kit together?",
        "Do you sell fire blankets for the kitchen?",
        "¿Vendéis extintores y mantas ignífugas? Y un botiquín",
        "Je cherche un détecteur de fumée et une couverture anti-feu",
        "Ich brauche einen Feuerlöscher und einen Verbandskasten fürs Auto",
        "Vocês vendem detector de fumaça e extintor de incêndio?",
        "Vendete rilevatori di fumo e coperte antifiamma?",
        "Czy macie czujnik dymu i gaśnicę proszkową?",
        "Duman dedektörü ve yangın battaniyesi satıyor musunuz?",
        "Van füstérzékelőtök és tűzoltó takarótok?",
        "Ada jual detektor asap sama tabung pemadam kebakaran?",
        "Ada jual pengesan asap dengan alat pemadam kebakaran?",
        "Shop có bán máy báo khói và bình chữa cháy mini không?",
        "มีเครื่องตรวจจับควันกับถังดับเพลิงขายไหมคะ",
        "有卖烟雾报警器和灭火毯吗",
        "有賣煙霧偵測器和滅火毯嗎",
        "Does this heater have a fire safety certificate? Is it CE certified?",
        "¿Este cargador tiene certificado de seguridad contra incendios?",
        "Cette lampe a-t-elle une certification anti-incendie ?",
        "Hat die Lichterkette ein Prüfzeichen für Brandschutz?",
        "请问这个插座有防火阻燃认证吗",
        "I'm a firefighter and need size 46 boots, do you have wide fit?",
        "Soy bombero y necesito guantes de talla L",
        "Ich bin bei der Feuerwehr und brauche Handschuhe in L",
        "Sou bombeiro e preciso de luvas tamanho G",
        "The incense sticks smell like campfire smoke, lovely, do you have more?",
        "Die Räucherstäbchen duften nach Lagerfeuer, habt ihr mehr davon?",
        "L'encens sent le feu de cheminée, c'est génial, vous en avez d'autres ?",
        "Do you have the Blood Moon eyeshadow palette back?",
        "Halloween costume with fake blood, do you have it in size M?",
        "Disfraz de vampiro con sangre falsa, ¿hay talla M?",
        "Kostüm mit Kunstblut in Größe M verfügbar?",
        "Costume da vampiro con sangue finto taglia M?",
        "Esse vestido é um arraso, tá pegando fogo de tão lindo! Tem no M?",
        "Ce prix est une tuerie, je prends deux",
        "Đôi giày này cháy hàng rồi hả shop? Khi nào có lại?",
        "这款口红色号叫火焰红吗？还有货吗",
        "Baju ni meletup betul, ada saiz L?",
        "Bajunya meledak banget di pasaran, masih ada stok?",
        "Bu elbise yangın gibi, M beden var mı?",
        "Ez a ruha tűzforró, van M-es?",
        "Is this eucalyptus essential oil safe to use around kids?",
        "¿El aceite esencial de lavanda es apto para niños?",
        "The paint on the bike frame is peeling, can I get a new one?",
        "A pintura da bicicleta está descascando, quero trocar",
        "สินค้านี้มีเลข อย. ไหมคะ",
        "ตอนนี้อยู่บ้านค่ะ ส่งได้เลย",
    ],
)
def test_urgent6_look_alikes_and_harmless_breakage_stay_calm(text: str) -> None:
    assert C.safety_hazards(text) == set(), (text, C.safety_hazards(text))


def _lexicon() -> C.Lexicon:
    return C.Lexicon(
        {
            "smoke": ["smoke", "humo"],
            "danger": ["not safe"],
            "injury": ["bleeding", "hurt"],
            "no_off": ["won t turn off"],
        },
        cues={"candle": ["candle"], "scent": ["smells of"]},
        negation={
            "cancels": ["smoke", "injury", "danger"],
            "before": {"en": ["=no", "=nobody", "=not", "doesn t"], "es": ["=sin"], "ms": ["=tak ada"]},
            "after": {"tr": ["=yok"]},
            "pseudo": {"en": ["doesn t stop"]},
            "filler": {"en": ["was", "any", "s"], "es": ["nada"]},
        },
        veto={"smoke": [["candle", "scent"]]},
    )


def test_negation_scope_cancels_only_what_it_governs() -> None:
    lex = _lexicon()

    def m(text: str) -> set[str]:
        return lex.match(C.fold(text), C.fold_keep_accents(text))

    # Given a negation word and only fillers before the hazard, I expect it cancelled
    assert m("no smoke at all") == set() and m("nobody was hurt") == set() and m("no any smoke") == set()
    assert m("sin humo") == set() and m("smoke yok") == set()
    # ... but not past a word that is not a filler, nor a term that holds the negation itself
    assert m("no it started to smoke") == {"smoke"}
    assert m("not safe") == {"danger"} and m("it won't turn off") == {"no_off"}
    # a pseudo-negation voids the negation word it overlaps
    assert m("the cut doesn't stop bleeding") == {"injury"} and m("doesn't hurt") == set()
    # fillers belong to the negation word's language: "sin nada humo" yes, "sin was humo" no
    assert m("sin nada humo") == set() and m("sin was humo") == {"smoke"}
    # a reassurance does not reach a later danger
    assert m("nobody was hurt but smoke came out") == {"smoke"}


def test_veto_and_quoted_names() -> None:
    lex = _lexicon()
    assert lex.match(C.fold("the candle smells of smoke"), None) == set()
    assert lex.match(C.fold("the candle started to smoke"), None) == {"smoke"}
    assert C.safety_hazards("Do you have the 'Dragon Fire' chess set?") == set()
    assert C.safety_hazards("The 'Dragon Fire' chess set caught fire on the shelf") == {"fire"}
