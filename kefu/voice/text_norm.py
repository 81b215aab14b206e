"""Text as it should be spoken: numbers, order ids, phone numbers, prices, dates and times, in zh and en.

    speakable("订单NT2026030112345已于2026-03-01发货，运费¥12.50", "zh")
    → "订单N T 二零二六零三零幺幺二三四五 已于二零二六年三月一日发货，运费十二点五元"
    speakable("Your refund of $19.99 arrives on 2026-03-05 at 14:30.", "en")
    → "Your refund of nineteen dollars and ninety-nine cents arrives on March fifth, twenty twenty-six
       at two thirty P M."

Long digit strings (order ids, phones, codes: 5 digits or more, or attached to letters) are read digit by
digit; everything else is read as a quantity.
"""
from __future__ import annotations

import re

ZH_DIGITS = "零一二三四五六七八九"
ZH_UNITS = ["", "十", "百", "千"]
ZH_BIG = ["", "万", "亿", "万亿"]
EN_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
           "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
EN_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
EN_ORD = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
          "twelve": "twelfth"}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
CURRENCY = {"¥": ("元", "yuan"), "￥": ("元", "yuan"), "$": ("美元", "dollar"), "€": ("欧元", "euro"),
            "£": ("英镑", "pound")}

_DATE = re.compile(r"(?<!\d)(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?!\d)")
_MONTH_DAY = re.compile(r"(?<!\d)(\d{1,2})月(\d{1,2})[日号]")
_TIME = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?(?![\d:])\s*([ap]\.?m\.?)?", re.I)
_PRICE_PRE = re.compile(r"([¥￥$€£])\s?(\d[\d,]*(?:\.\d+)?)")
_PRICE_POST = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?(元|块|美元|dollars?|yuan|RMB|rmb|USD)(?![A-Za-z])")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?%")
_PHONE = re.compile(r"(?<![\d-])\+?\d{2,4}(?:[- ]\d{3,4}){1,3}(?![\d-])")
_CODE = re.compile(r"(?<![\d.])([A-Za-z]{1,4}-?)?(\d{5,})(?![\d.])")  # order ids, phones, tracking numbers
_MODEL = re.compile(r"\b([A-Za-z]{1,3})(\d{1,4})\b")  # model names: X1, S20
_NUMBER = re.compile(r"(?<![\dA-Za-z])(\d[\d,]*(?:\.\d+)?)(?![\d])")
_MONTH_NAME = re.compile(r"\b(" + "|".join(MONTHS) + r")\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4})\b)?")
_ORDINAL_EN = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.I)


# -- Chinese -------------------------------------------------------------------------------------
def zh_digits(s: str) -> str:
    """Digit by digit, as for order ids and phone numbers (1 read 幺 as on the phone)."""
    return "".join("幺" if c == "1" else ZH_DIGITS[int(c)] for c in s if c.isdigit())


def _zh_below_10000(n: int) -> str:
    out, zero = "", False
    for i, d in enumerate(f"{n:04d}"):
        d = int(d)
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += ZH_DIGITS[d] + ZH_UNITS[3 - i]
    return out


def zh_int(n: int) -> str:
    """An integer read as a quantity: 10 十, 105 一百零五, 20000 两万."""
    if n == 0:
        return "零"
    if n < 0:
        return "负" + zh_int(-n)
    groups = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    if len(groups) > len(ZH_BIG):
        return zh_digits(str(n))
    out, need_zero = "", False
    for i in range(len(groups) - 1, -1, -1):
        g = groups[i]
        if g == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or g < 1000):
            out += "零"
        out += _zh_below_10000(g) + ZH_BIG[i]
        need_zero = False
    if out.startswith("一十"):
        out = out[1:]
    return re.sub(r"^二(?=[千万亿])", "两", out)


def zh_number(text: str) -> str:
    """``"12.50"`` → 十二点五, ``"1,200"`` → 一千二百."""
    text = text.replace(",", "")
    whole, _, frac = text.partition(".")
    out = zh_int(int(whole or "0"))
    frac = frac.rstrip("0")
    return out + ("点" + "".join(ZH_DIGITS[int(c)] for c in frac) if frac else "")


def _zh(text: str) -> str:
    text = _DATE.sub(lambda m: f"{''.join(ZH_DIGITS[int(c)] for c in m[1])}年{zh_int(int(m[2]))}月"
                               f"{zh_int(int(m[3]))}日", text)
    text = _MONTH_DAY.sub(lambda m: f"{zh_int(int(m[1]))}月{zh_int(int(m[2]))}日", text)
    text = _TIME.sub(_zh_time, text)
    text = _PRICE_PRE.sub(lambda m: zh_number(m[2]) + CURRENCY[m[1]][0], text)
    text = _PRICE_POST.sub(lambda m: zh_number(m[1]) + _zh_unit(m[2]), text)
    text = _PERCENT.sub(lambda m: "百分之" + zh_number(m[1]), text)
    text = _PHONE.sub(lambda m: " ".join(zh_digits(g) for g in re.split(r"[- ]", m[0].lstrip("+"))), text)
    text = _CODE.sub(lambda m: (" ".join(m[1].rstrip("-").upper()) + " " if m[1] else "") + zh_digits(m[2]) + " ",
                     text)
    text = _NUMBER.sub(lambda m: zh_number(m[1]), text)
    return re.sub(r"\s+(?=[，。！？、；：,.!?])", "", re.sub(r" {2,}", " ", text)).strip()


def _zh_unit(unit: str) -> str:
    return {"块": "块", "美元": "美元", "dollar": "美元", "dollars": "美元", "USD": "美元"}.get(unit, "元")


def _zh_time(m: re.Match) -> str:
    hour, minute = int(m[1]), int(m[2])
    if m[4] and m[4].lower().startswith("p") and hour < 12:
        hour += 12
    out = f"{zh_int(hour)}点"
    if minute:
        out += ("零" if minute < 10 else "") + zh_int(minute) + "分"
    return out


# -- English -------------------------------------------------------------------------------------
def en_int(n: int) -> str:
    """An integer in words: 1250 → one thousand two hundred fifty."""
    if n < 0:
        return "minus " + en_int(-n)
    if n < 20:
        return EN_ONES[n]
    if n < 100:
        return EN_TENS[n // 10] + ("-" + EN_ONES[n % 10] if n % 10 else "")
    if n < 1000:
        return EN_ONES[n // 100] + " hundred" + (" " + en_int(n % 100) if n % 100 else "")
    for size, name in ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            if n // size >= 1000 and size == 10**12:
                return en_digits(str(n))
            return en_int(n // size) + " " + name + (" " + en_int(n % size) if n % size else "")
    return str(n)


def en_digits(s: str) -> str:
    return " ".join(EN_ONES[int(c)] for c in s if c.isdigit())


def en_ordinal(n: int) -> str:
    words = en_int(n)
    head, sep, last = words.rpartition("-") if "-" in words.split(" ")[-1] else words.rpartition(" ")
    if last in EN_ORD:
        last = EN_ORD[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def en_year(y: int) -> str:
    if 2000 <= y < 2010:
        return en_int(y)
    if 1000 <= y < 10000 and y % 100:
        hi, lo = divmod(y, 100)
        return en_int(hi) + " " + (("oh " + en_int(lo)) if lo < 10 else en_int(lo))
    return en_int(y // 100) + " hundred" if y % 100 == 0 and y % 1000 else en_int(y)


def en_number(text: str) -> str:
    text = text.replace(",", "")
    whole, _, frac = text.partition(".")
    out = en_int(int(whole or "0"))
    return out + (" point " + en_digits(frac) if frac else "")


def _en_money(amount: str, unit: str) -> str:
    amount = amount.replace(",", "")
    whole, _, frac = amount.partition(".")
    w = int(whole or "0")
    cents = int((frac + "00")[:2]) if frac else 0
    plural = "" if w == 1 else "s"
    if unit in ("yuan",):
        out = f"{en_int(w)} yuan"
        return out + (f" {en_int(cents)}" if cents else "")
    out = f"{en_int(w)} {unit}{plural}"
    if cents:
        out += f" and {en_int(cents)} cent{'s' if cents != 1 else ''}"
    return out


def _en_time(m: re.Match) -> str:
    hour, minute, suffix = int(m[1]), int(m[2]), (m[4] or "").lower().replace(".", "")
    if not suffix:
        suffix = "am" if hour < 12 else "pm"
    hour12 = hour % 12 or 12
    mins = "" if minute == 0 else (" oh " + en_int(minute) if minute < 10 else " " + en_int(minute))
    return f"{en_int(hour12)}{mins} {'A M' if suffix == 'am' else 'P M'}"


def _en_code(m: re.Match) -> str:
    prefix = " ".join(m[1].rstrip("-").upper()) + " " if m[1] else ""
    return prefix + en_digits(m[2])


def _en(text: str) -> str:
    text = _DATE.sub(lambda m: f"{MONTHS[int(m[2]) - 1]} {en_ordinal(int(m[3]))}, {en_year(int(m[1]))}"
                     if 1 <= int(m[2]) <= 12 and 1 <= int(m[3]) <= 31 else m[0], text)
    text = _MONTH_NAME.sub(lambda m: f"{m[1]} {en_ordinal(int(m[2]))}" + (f", {en_year(int(m[3]))}" if m[3] else ""),
                           text)
    text = _TIME.sub(_en_time, text)
    names = {"$": "dollar", "€": "euro", "£": "pound", "¥": "yuan", "￥": "yuan"}
    text = _PRICE_PRE.sub(lambda m: _en_money(m[2], names[m[1]]), text)
    text = _PRICE_POST.sub(lambda m: _en_money(m[1], "yuan" if m[2] in ("元", "块", "yuan", "RMB", "rmb")
                                               else "dollar"), text)
    text = _PERCENT.sub(lambda m: en_number(m[1]) + " percent", text)
    text = _ORDINAL_EN.sub(lambda m: en_ordinal(int(m[1])), text)
    text = _PHONE.sub(lambda m: ", ".join(en_digits(g) for g in re.split(r"[- ]", m[0].lstrip("+"))), text)
    text = _CODE.sub(_en_code, text)
    text = _MODEL.sub(lambda m: f"{m[1]} {en_number(m[2])}", text)
    text = _NUMBER.sub(lambda m: en_number(m[1]), text)
    return re.sub(r" {2,}", " ", text).strip()


def speakable(text: str, lang: str) -> str:
    """``text`` with numbers, ids, prices, dates and times written out as ``lang`` (zh/en) reads them."""
    return _zh(text) if lang == "zh" else _en(text)


# -- splitting mixed text --------------------------------------------------------------------------
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff01-\uff5e，。！？、；：“”‘’（）《》…—]")


def split_by_script(text: str) -> list[tuple[str, str]]:
    """``[(lang, part), …]``: runs of Chinese (Han + CJK punctuation) and of everything else (``en``).

    Spaces and neutral punctuation stay with the run they are in; parts with no letters or digits
    are dropped.
    """
    runs: list[tuple[str, str]] = []
    cur_lang, cur = None, []
    for ch in text:
        if _HAN.match(ch):
            lang = "zh"
        elif ch.isalnum():
            lang = "en"
        else:
            lang = cur_lang or "en"
        if lang != cur_lang and cur:
            runs.append((cur_lang or "en", "".join(cur)))
            cur = []
        cur_lang = lang
        cur.append(ch)
    if cur:
        runs.append((cur_lang or "en", "".join(cur)))
    out: list[tuple[str, str]] = []
    for lang, part in runs:
        if not any(c.isalnum() for c in part):
            if out:
                out[-1] = (out[-1][0], out[-1][1] + part)
            continue
        if out and out[-1][0] == lang:
            out[-1] = (lang, out[-1][1] + part)
        else:
            out.append((lang, part))
    return [(lang, part.strip()) for lang, part in out if part.strip()]
