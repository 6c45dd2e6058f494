"""Support-message generator: training data for the triage model (Chinese and English).

Messages are assembled from templates (greeting + intent body + optional order id + closing)
with order ids in varied written forms and random typos, so the model learns intents from
character n-grams rather than from a fixed sentence. The hand-written evaluation set
``tests/fixtures/support_messages.csv`` was written separately; a test checks that no
fixture message is a generated sentence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

INTENTS = ("track_order", "apply_refund", "product_inquiry", "complaint")

_BODIES: dict[str, dict[str, tuple[str, ...]]] = {
    "track_order": {
        "en": (
            "where is my order {id}",
            "when will order {id} arrive",
            "can you check the delivery status of {id}",
            "my package {id} has not arrived yet",
            "tracking for {id} has not updated for days",
            "has {id} been shipped",
            "what is the shipping status of my order {id}",
            "is {id} out for delivery",
            "I need the tracking number for {id}",
            "how long until {id} gets here",
            "still waiting for my parcel {id}",
            "order {id} shows shipped but no courier update",
        ),
        "zh": (
            "我的订单{id}到哪了",
            "订单{id}什么时候能到",
            "帮我查一下{id}的物流",
            "{id}怎么还没发货",
            "快递{id}好几天没更新了",
            "请问{id}发货了吗",
            "我想查询订单{id}的配送进度",
            "{id}现在到哪里了",
            "单号{id}物流信息查不到",
            "{id}大概几天能送到",
            "包裹{id}一直没收到",
            "麻烦催一下{id}的快递",
        ),
    },
    "apply_refund": {
        "en": (
            "I want a refund for {id}",
            "please refund order {id}",
            "how do I return {id} and get my money back",
            "I'd like to cancel {id} and get a refund",
            "requesting refund for {id}, item is damaged",
            "the item in {id} is the wrong size, refund please",
            "can I get my money back for {id}",
            "return request for order {id}",
            "I received the wrong item in {id}, I want to return it",
            "please process a refund for {id}, I no longer need it",
        ),
        "zh": (
            "我要申请退款,订单{id}",
            "订单{id}我想退货退款",
            "{id}能退款吗",
            "{id}收到的东西坏了,申请退款",
            "麻烦把{id}的钱退给我",
            "我想取消订单{id}并退款",
            "{id}尺码不对,怎么退货",
            "{id}发错货了,要退",
            "申请{id}仅退款",
            "{id}质量有问题,我要退货",
        ),
    },
    "product_inquiry": {
        "en": (
            "does this jacket come in size XL",
            "is this phone case compatible with iphone 15",
            "what material is this made of",
            "when will the blue one be back in stock",
            "is there a warranty on this product",
            "what are the dimensions of this table",
            "do you ship this item to Shenzhen",
            "is this product waterproof",
            "does the price include batteries",
            "can this be used for kids",
            "what colors are available for this model",
            "how much does it weigh",
        ),
        "zh": (
            "这件衣服有XL码吗",
            "这个手机壳适合iPhone 15吗",
            "这个是什么材质的",
            "蓝色什么时候有货",
            "这个产品有保修吗",
            "桌子的尺寸是多少",
            "这个能发到深圳吗",
            "这个防水吗",
            "价格包含电池吗",
            "小孩可以用吗",
            "这款有几种颜色",
            "这个有多重",
        ),
    },
    "complaint": {
        "en": (
            "this is the worst service I have ever had",
            "I am extremely unhappy with order {id}",
            "your courier was rude to me",
            "I want to file a complaint about {id}",
            "nobody answers my messages, this is unacceptable",
            "I will report you to consumer protection",
            "three times I asked and still nothing, terrible",
            "I want to speak to a manager about {id}",
            "you charged me twice, I am furious",
            "disappointed, the service is awful",
        ),
        "zh": (
            "你们的服务太差了",
            "我要投诉,订单{id}",
            "快递员态度很恶劣",
            "我对{id}非常不满意",
            "找了客服好几次都没人理,太过分了",
            "再不处理我就去消费者协会投诉",
            "你们这是欺骗消费者",
            "我要找你们经理,{id}的事情",
            "重复扣款了,气死我了",
            "太失望了,以后再也不买了",
        ),
    },
}
# slot vocabularies for compositional templates (products, attributes, grievances)
_PRODUCTS = {
    "en": (
        "jacket",
        "phone",
        "kettle",
        "sofa",
        "shoes",
        "earphones",
        "lamp",
        "desk",
        "backpack",
        "coffee",
        "vacuum",
        "watch",
        "mattress",
        "cream",
        "toy",
        "printer",
    ),
    "zh": (
        "外套",
        "手机",
        "水壶",
        "沙发",
        "鞋子",
        "耳机",
        "台灯",
        "桌子",
        "背包",
        "咖啡",
        "吸尘器",
        "手表",
        "床垫",
        "面霜",
        "玩具",
        "打印机",
    ),
}
_ATTR_Q = {
    "en": (
        "is the {p} available in other colours",
        "how long is the warranty on the {p}",
        "is the {p} in stock",
        "what size {p} should I get",
        "is the {p} easy to clean",
        "can the {p} be used outdoors",
        "any discount on the {p} if I buy two",
        "is the {p} genuine",
        "what is the {p} made of",
        "does the {p} need batteries",
        "how does the {p} compare to the older model",
        "is the {p} safe for children",
        "do you sell spare parts for the {p}",
        "can you deliver the {p} to Xi'an",
        "what's the power consumption of the {p}",
        "is the {p} good for travel",
    ),
    "zh": (
        "{p}有别的颜色吗",
        "{p}保修多久",
        "{p}还有货吗",
        "{p}选多大号合适",
        "{p}好清洗吗",
        "{p}户外能用吗",
        "{p}买两个能便宜点吗",
        "{p}是正品吗",
        "{p}是什么做的",
        "{p}要装电池吗",
        "{p}和老款有什么区别",
        "{p}小孩用安全吗",
        "{p}的配件单独卖吗",
        "{p}能寄到西安吗",
        "{p}功率多大",
        "{p}适合出差带吗",
        "{p}续航怎么样",
        "{p}是今年的新款吗",
    ),
}
_GRIEVANCE = {
    "en": (
        "your agent was rude and hung up",
        "nobody replies to my emails",
        "I was charged twice",
        "you sold me a fake",
        "this is a scam",
        "the driver threw my parcel",
        "you leaked my personal data",
        "the seller refuses to take responsibility",
        "I was lied to",
        "I want compensation",
        "I will post a bad review everywhere",
        "I will report this to the regulator",
        "your service is a disgrace",
        "I have been waiting on hold for an hour",
        "escalate this to a supervisor",
    ),
    "zh": (
        "客服态度恶劣还挂电话",
        "发消息一直没人回",
        "重复扣款",
        "卖假货",
        "你们就是骗子",
        "快递员乱扔包裹",
        "泄露我的个人信息",
        "商家不负责任",
        "客服骗我",
        "我要求赔偿",
        "我要给差评",
        "我要去12315举报",
        "服务太烂了",
        "电话一直打不通",
        "我要找负责人",
        "我要曝光你们",
        "一直踢皮球",
    ),
}
_OPEN = {
    "en": ("", "hi, ", "hello, ", "hey ", "good morning, "),
    "zh": ("", "你好,", "您好,", "在吗?", "客服你好,"),
}
_CLOSE = {
    "en": ("", ".", "?", " thanks", " thank you!", " asap"),
    "zh": ("", "。", "?", "谢谢", ",谢谢!", ",急"),
}


def order_id_forms(number: int, rng: np.random.Generator) -> tuple[str, str]:
    """One written form of an order id and its canonical ``O`` + 10 digits form."""
    canon = f"O{number:010d}"
    digits = f"{number:010d}"
    forms = (
        canon,
        canon.lower(),
        f"O-{digits}",
        f"#{canon}",
        f"O {digits}",
        digits,
        f"O{digits[:5]} {digits[5:]}",
        f"【{canon}】",
        f"({canon})",
    )
    return forms[int(rng.integers(len(forms)))], canon


def add_typos(text: str, rng: np.random.Generator, rate: float = 0.04) -> str:
    """Randomly drop, duplicate or swap characters (not inside the order id's digits)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch, u = text[i], rng.random()
        if ch.isdigit() or u > rate:
            out.append(ch)
        elif u < rate / 3:
            pass  # drop
        elif u < 2 * rate / 3:
            out.append(ch + ch)
        elif i + 1 < len(text) and not text[i + 1].isdigit():
            out.append(text[i + 1] + ch)
            i += 1
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _compose(intent: str, lang: str, rng: np.random.Generator) -> str | None:
    """A slot-filled body for inquiries and complaints (``None``: use a fixed template)."""
    if rng.random() < 0.5:
        return None
    if intent == "product_inquiry":
        frames, prods = _ATTR_Q[lang], _PRODUCTS[lang]
        return frames[int(rng.integers(len(frames)))].format(p=prods[int(rng.integers(len(prods)))])
    if intent == "complaint":
        g = _GRIEVANCE[lang]
        a, b = rng.choice(len(g), 2, replace=False)
        sep = ", " if lang == "en" else ","
        tail = sep + g[int(b)] if rng.random() < 0.5 else ""
        pre = ("about order {id}: " if lang == "en" else "订单{id},") if rng.random() < 0.4 else ""
        return pre + g[int(a)] + tail
    return None


def generate_support_messages(n: int, seed: int = 0, typo_rate: float = 0.04) -> pd.DataFrame:
    """``n`` labelled support messages: columns ``message, intent, order_id, lang``.

    ``order_id`` is the canonical id embedded in the message, or empty when there is none.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        intent = INTENTS[int(rng.integers(len(INTENTS)))]
        lang = "zh" if rng.random() < 0.5 else "en"
        bodies = _BODIES[intent][lang]
        body = _compose(intent, lang, rng) or bodies[int(rng.integers(len(bodies)))]
        canon = ""
        if "{id}" in body:
            if rng.random() < 0.85:
                form, canon = order_id_forms(int(rng.integers(1, 10_000_000)), rng)
                body = body.replace("{id}", f" {form} " if lang == "en" else form)
            else:
                body = body.replace("{id}", "my order" if lang == "en" else "我的订单")
        text = _OPEN[lang][int(rng.integers(len(_OPEN[lang])))] + body
        text += _CLOSE[lang][int(rng.integers(len(_CLOSE[lang])))]
        text = " ".join(text.split())
        if rng.random() < 0.5:
            text = add_typos(text, rng, typo_rate)
        if lang == "en" and rng.random() < 0.3:
            text = text.upper() if rng.random() < 0.2 else text.capitalize()
        rows.append((text, intent, canon, lang))
    return pd.DataFrame(rows, columns=["message", "intent", "order_id", "lang"])
