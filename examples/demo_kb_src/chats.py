# ruff: noqa: E501  (long phrase strings of data)
"""Assemble ~200 historical customer-service conversations from the topic templates."""

import datetime as dt
import json
import random
from pathlib import Path

from .chat_pii import Faker
from .chat_topics_en import PRODUCT_EN, TOPICS_EN
from .chat_topics_zh import PRODUCT_ZH, TOPICS_ZH
from .world import PRODUCT_BY_SKU

SEED = 20260301
N_CHATS = 200
N_ZH = 120
TZ = dt.timezone(dt.timedelta(hours=8))
FIRST_DAY = dt.datetime(2026, 1, 5, tzinfo=TZ)
DAYS = 86

COLORS_ZH = {"Black": "黑色", "Silver": "银色", "Midnight Black": "午夜黑", "Pearl White": "珍珠白",
             "Navy Blue": "海军蓝", "White": "白色", "Mint": "薄荷绿", "Space Grey": "深空灰",
             "Rose Gold": "玫瑰金", "Forest Green": "森林绿", "Graphite": "石墨灰", "Charcoal": "炭黑",
             "Chalk": "粉笔白"}
CITIES_ZH = [("上海", "1-2天"), ("杭州", "1-2天"), ("苏州", "1-2天"), ("广州", "1-2天"), ("深圳", "1-2天"),
             ("北京", "2-3天"), ("成都", "2-3天"), ("武汉", "2-3天"), ("西安", "2-3天"),
             ("乌鲁木齐", "4-7天"), ("拉萨", "4-7天")]
COUNTRIES = ["the US", "Canada", "the UK", "Germany", "France", "Australia", "Singapore", "Japan"]
AGENTS_ZH = ["小李", "小王", "小陈", "小美", "小周"]
AGENTS_EN = ["Li Na", "Kevin Zhang", "Emma Wu", "Jason Liu", "Grace Lin"]

ZH = {
    "hello": ["在吗", "你好", "您好，在吗？", "有人吗", "hello", "亲 在不在", "你好，问个问题"],
    "join": ["客服{agent}已接入", "客服{agent}已进入会话"],
    "join_phone": ["电话已接通，客服{agent}为您服务"],
    "greet": ["您好，我是客服{agent}，很高兴为您服务，请问有什么可以帮您？", "亲，您好～请问有什么可以帮到您呢？",
              "您好，诺瓦科技商城客服{agent}，请讲。"],
    "context": ["我上周买了个{product}。", "你好，我是{name}。", "", "", "", "问一下，", "急！", "我是{name}，电话{phone}。"],
    "ask_order": ["麻烦提供一下订单号哦", "请问您的订单号是多少？", "好的，麻烦发一下订单号，我帮您查一下"],
    "give_order": ["{order}", "订单号{order}", "{order} 下单手机号{phone}", "{order}，收件人{name}，电话{phone}",
                   "订单号是{order}，我手机{phone}", "{order}，邮箱{email}", "{order}，地址{address}"],
    "wait": ["请稍等，正在为您查询～", "稍等哦，我看一下", "好的，请稍等"],
    "sorry": ["非常抱歉给您带来不好的体验，我马上帮您处理。", "实在抱歉让您着急了，我这就帮您查。"],
    "more": ["另外再问一下，", "还有个问题，", "对了，"],
    "thanks": ["好的，谢谢", "好的", "谢谢", "明白了，谢谢啦", "ok", "好的好的 辛苦了"],
    "thanks_angry": ["行吧，尽快处理", "好吧，希望别再出问题", "知道了"],
    "bye": ["不客气，还有其他问题随时联系我们，祝您生活愉快！", "不客气哦～稍后请对本次服务做出评价，感谢您的支持！",
            "应该的，有问题随时找我们～"],
    "end": ["会话已结束", "用户已离开会话"],
}
EN = {
    "hello": ["Hi", "Hello?", "hi there", "Hey", "Good morning", "hello, anyone there?"],
    "join": ["Agent {agent} joined the conversation", "You are now chatting with {agent}"],
    "join_phone": ["Call connected to agent {agent}"],
    "greet": ["Hi, this is {agent} from NovaTech Store. How can I help you today?", "Hello! How can I help?",
              "Thanks for contacting NovaTech Store, {agent} here. What can I do for you?"],
    "context": ["", "", "", "Hi, my name is {name}. ", "Quick question: ", "Hello, ", "This is {name}, email {email}. "],
    "ask_order": ["Could you share your order number, please?", "Sure, what's your order number?",
                  "Can I have the order number so I can look it up?"],
    "give_order": ["{order}", "It's {order}", "Order {order}, name {name}", "{order} - my email is {email}",
                   "order number {order}, phone {enphone}", "{order}, shipping to {address}"],
    "wait": ["One moment please, let me check.", "Let me look into that for you, one sec.", "Please hold on a moment."],
    "sorry": ["I'm really sorry about this experience, let me sort it out right away.",
              "I apologise for the frustration - let me check what happened."],
    "more": ["Also, ", "One more thing: ", "Oh and "],
    "thanks": ["Thanks!", "great, thank you", "ok thx", "Perfect, appreciate it", "Got it, thanks", "ok"],
    "thanks_angry": ["Fine. Please make it quick.", "ok. I hope it gets sorted this time", "whatever, thanks"],
    "bye": ["You're welcome! Anything else I can help with?", "My pleasure. Have a great day!",
            "Happy to help - take care!"],
    "end": ["Chat ended", "Customer left the chat"],
}


PRODUCT_KEYS = {"product", "warranty", "price", "desc", "colors"}


def _slots(rng, faker, lang, topic, start):
    skus = topic["products"] or list(PRODUCT_BY_SKU)
    sku = rng.choice(skus)
    p = PRODUCT_BY_SKU[sku]
    zh = lang == "zh"
    carrier = rng.choice(["顺丰", "京东物流"] if zh else ["DHL eCommerce", "DHL Express"])
    person = faker.zh_person() if zh else faker.en_person()
    name = person[0] if zh else person
    city, eta = rng.choice(CITIES_ZH)
    return {
        "product": rng.choice((PRODUCT_ZH if zh else PRODUCT_EN)[sku]),
        "warranty": p[7], "price": p[5] if zh else p[6],
        "desc": p[10] if zh else p[9],
        "colors": "、".join(COLORS_ZH[c] for c in p[8].split(";")) if zh else ", ".join(p[8].split(";")),
        "order": faker.order_no(start - dt.timedelta(days=rng.randint(1, 20))),
        "carrier": carrier,
        "transit": "3-6 business days for Express" if carrier == "DHL Express" else "7-15 business days for Standard shipping",
        "tracking": faker.tracking({"顺丰": "SF", "京东物流": "JD"}.get(carrier, "DHL")),
        "city": city, "eta": eta, "country": rng.choice(COUNTRIES),
        "name": name, "phone": faker.mobile(), "enphone": faker.en_phone(),
        "address": faker.zh_address() if zh else faker.en_address(),
        "email": faker.email(name, zh), "card": faker.bank_card(), "idno": faker.resident_id(),
    }


def _join(prefix, text):
    """Prefix + text, lower-casing an English sentence start that follows a comma or 'and'."""
    if prefix.endswith((", ", "and ")) and text[:2].isalpha() and text[1].islower():
        text = text[0].lower() + text[1:]
    return prefix + text


def _has(item, slot):
    text = " ".join(item) if isinstance(item, tuple) else item
    return "{" + slot + "}" in text


def _qa(rng, topic, want=None):
    options = [q for q in topic["q"] if want and _has(q, want)] or topic["q"]
    q = rng.choice(options)
    if isinstance(q, tuple):
        return q
    return q, rng.choice(topic["a"])


def _conversation(rng, faker, lang, topic, other, channel, start, want=None):
    zh = lang == "zh"
    P = ZH if zh else EN
    agent = rng.choice(AGENTS_ZH if zh else AGENTS_EN)
    s = _slots(rng, faker, lang, topic, start)
    s["agent"] = agent

    def fill(text):
        return text.format_map(s)

    turns = []  # (role, text, drop priority: lower is dropped first when too long; 0 = keep)
    short = rng.random() < 0.1
    if not short and rng.random() < 0.45:
        turns.append(("customer", rng.choice(P["hello"]), 3))
    if not short and rng.random() < 0.85:
        turns.append(("system", fill(rng.choice(P["join_phone" if channel == "phone" else "join"])), 6))
    if not short and rng.random() < 0.6:
        turns.append(("agent", fill(rng.choice(P["greet"])), 4))
    angry = "angry" in topic and rng.random() < 0.35
    question, answer = _qa(rng, topic, want)
    want_fu = [f for f in topic.get("fu", []) if want and _has(f, want) and not _has(question, want)]
    if want:
        short, angry = False, angry and not want_fu and not _has(question, want)
    if angry:
        question = rng.choice(topic["angry"])
    elif not short:
        ctx = rng.choice(P["context"])
        if ("{product}" in ctx and "{product}" not in question) or question.lower().startswith(("hi", "hey", "你好")):
            ctx = ""
        question = _join(ctx, question)
    turns.append(("customer", fill(question), False))
    if topic["order"] and not short:
        if angry:
            turns.append(("agent", rng.choice(P["sorry"]) + " " + rng.choice(P["ask_order"]), False))
        else:
            turns.append(("agent", rng.choice(P["ask_order"]), False))
        turns.append(("customer", fill(rng.choice(P["give_order"])), False))
        if rng.random() < 0.5:
            turns.append(("agent", rng.choice(P["wait"]), 2))
    elif angry:
        answer = rng.choice(P["sorry"]) + ("" if zh else " ") + answer
    turns.append(("agent", fill(answer), False))
    if not short:
        if want_fu or (topic.get("fu") and rng.random() < 0.5):
            fq, fa = rng.choice(want_fu or topic["fu"])
            turns += [("customer", fill(fq), False), ("agent", fill(fa), False)]
        elif other is not None and rng.random() < 0.25:
            q2, a2 = _qa(rng, other)
            s.update({k: v for k, v in _slots(rng, faker, lang, other, start).items() if k in PRODUCT_KEYS})
            turns += [("customer", fill(_join(rng.choice(P["more"]), q2)), False), ("agent", fill(a2), False)]
        if rng.random() < 0.75:
            turns.append(("customer", rng.choice(P["thanks_angry" if angry else "thanks"]), 5))
            if rng.random() < 0.7:
                turns.append(("agent", rng.choice(P["bye"]), 4))
        if channel != "phone" and rng.random() < 0.15:
            turns.append(("system", rng.choice(P["end"]), 1))
    while len(turns) > 10:  # drop the least useful optional turn until it fits
        idx = min((t[2], i) for i, t in enumerate(turns) if t[2])[1]
        del turns[idx]
    out, t = [], start
    for i, (role, text, _opt) in enumerate(turns):
        if i:
            t += dt.timedelta(seconds=rng.randint(5, 20) if role == "system" else rng.randint(15, 150))
        out.append({"role": role, "text": text, "time": t.isoformat()})
    return out


def build_chats():
    rng = random.Random(SEED)
    faker = Faker(rng)
    langs = ["zh"] * N_ZH + ["en"] * (N_CHATS - N_ZH)
    rng.shuffle(langs)
    starts = sorted(FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS), hours=rng.randint(9, 21),
                                             minutes=rng.randrange(60), seconds=rng.choice([0, 15, 30, 45]))
                    for _ in range(N_CHATS))
    queues = {"zh": [], "en": []}
    # a few conversations are made to carry bank card and resident ID numbers
    forced_plan = ([("zh", "refund_time", "card")] * 3 + [("en", "refund_time", "card")] * 3
                   + [("zh", "account_phone", "idno")] * 3 + [("zh", "invoice", "idno")] * 2)
    forced = {}
    for lang_, key, slot in forced_plan:
        free = [i for i, lg in enumerate(langs) if lg == lang_ and i not in forced]
        forced[rng.choice(free)] = (key, slot)
    chats = []
    for i, (lang, start) in enumerate(zip(langs, starts)):
        topics = TOPICS_ZH if lang == "zh" else TOPICS_EN
        if not queues[lang]:  # cycle through every topic before repeating one
            queues[lang] = rng.sample(range(len(topics)), len(topics))
        topic = topics[queues[lang].pop()]
        want = None
        if i in forced:
            key, want = forced[i]
            topic = next(t for t in topics if t["key"] == key)
        other = rng.choice([t for t in topics if t is not topic and not t["order"]])
        channel = rng.choices(["web", "app", "phone"], weights=[5, 4, 1])[0]
        chats.append({"id": f"c{i + 1:04d}", "channel": channel, "lang": lang, "started_at": start.isoformat(),
                      "turns": _conversation(rng, faker, lang, topic, other, channel, start, want)})
    return chats


def write_chats(root: Path) -> Path:
    path = root / "chatlogs" / "chats.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for c in build_chats():
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    return path
