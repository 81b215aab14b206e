# ruff: noqa: E501  (long phrase strings of data)
"""Fake personal data for the demo chat logs. Nothing here belongs to a real person.

Bank card numbers pass the Luhn check and resident ID numbers carry a valid check digit, so
that a PII redactor which verifies them has something real-looking to find.
"""

ZH_NAMES = [  # (full name, surname, gender)
    ("王建国", "王", "m"), ("张丽华", "张", "f"), ("刘洋", "刘", "m"), ("陈静", "陈", "f"),
    ("杨帆", "杨", "m"), ("赵敏", "赵", "f"), ("黄磊", "黄", "m"), ("周婷", "周", "f"),
    ("吴昊", "吴", "m"), ("孙丽", "孙", "f"), ("林晓东", "林", "m"), ("郑雪", "郑", "f"),
    ("何志强", "何", "m"), ("马晓燕", "马", "f"), ("高鹏", "高", "m"), ("徐佳怡", "徐", "f"),
]
EN_NAMES = [
    "John Smith", "Emily Johnson", "Michael Brown", "Sarah Davis", "David Wilson", "Laura Martinez",
    "James Taylor", "Olivia Anderson", "Daniel Thomas", "Sophie Martin", "Lucas Mueller", "Hannah Kim",
    "Ryan O'Connor", "Priya Sharma", "Tom Becker", "Chloe Dubois",
]
ZH_ADDRESSES = [
    "上海市浦东新区世纪大道100号", "北京市朝阳区建国路88号3号楼1502室", "广州市天河区天河路385号1201室",
    "深圳市南山区科技园南区深南大道9988号", "杭州市西湖区文三路259号6幢302室", "成都市武侯区天府大道中段666号",
    "南京市鼓楼区中山北路30号", "武汉市洪山区珞喻路1037号", "苏州市工业园区星湖街328号5栋801",
    "乌鲁木齐市天山区解放北路120号",
]
EN_ADDRESSES = [
    "221B Baker Street, London NW1 6XE", "742 Evergreen Terrace, Springfield, OR 97403",
    "4 Privet Drive, Little Whinging, Surrey GU1 3AB", "55 Maple Avenue, Toronto, ON M4B 1B3",
    "Flat 3, 27 Kingsland Road, London E2 8AA", "1208 Harbor View Road, Seattle, WA 98101",
    "Hauptstrasse 12, 10115 Berlin", "18 Rue des Lilas, 75011 Paris",
    "9 Orchard Lane, #05-12, Singapore 238801", "30 Collins Street, Melbourne VIC 3000",
]
MAIL_DOMAINS_ZH = ["qq.com", "163.com", "126.com", "foxmail.com", "sina.com"]
MAIL_DOMAINS_EN = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.co.uk"]
PINYIN = {"王": "wang", "张": "zhang", "刘": "liu", "陈": "chen", "杨": "yang", "赵": "zhao", "黄": "huang",
          "周": "zhou", "吴": "wu", "孙": "sun", "林": "lin", "郑": "zheng", "何": "he", "马": "ma",
          "高": "gao", "徐": "xu"}
MOBILE_PREFIXES = ["138", "139", "135", "136", "137", "150", "151", "158", "159", "182", "186", "188",
                   "130", "131", "155", "185", "133", "153", "180", "189", "177", "199"]
ID_REGIONS = ["310115", "110105", "440305", "330106", "510107", "320106", "420111", "650102"]


def luhn_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    digits = [c for c in number if c.isdigit()]
    return luhn_check_digit("".join(digits[:-1])) == digits[-1]


def id_check_digit(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]


class Faker:
    """Deterministic fake PII drawn from one random.Random."""

    def __init__(self, rng):
        self.rng = rng

    def zh_person(self):
        return self.rng.choice(ZH_NAMES)

    def en_person(self):
        return self.rng.choice(EN_NAMES)

    def mobile(self) -> str:
        r = self.rng
        n = r.choice(MOBILE_PREFIXES) + "".join(str(r.randint(0, 9)) for _ in range(8))
        style = r.randint(0, 3)
        if style == 1:
            return f"{n[:3]} {n[3:7]} {n[7:]}"
        if style == 2:
            return f"{n[:3]}-{n[3:7]}-{n[7:]}"
        if style == 3:
            return f"+86 {n[:3]} {n[3:7]} {n[7:]}"
        return n

    def en_phone(self) -> str:
        r = self.rng
        if r.random() < 0.5:
            return f"+1 ({r.randint(201, 989)}) {r.randint(200, 999)}-{r.randint(1000, 9999)}"
        return f"+44 7{r.randint(100, 999)} {r.randint(100000, 999999)}"

    def email(self, name: str, zh: bool) -> str:
        r = self.rng
        if zh:
            local = PINYIN.get(name[0], "nova") + r.choice(["", ".", "_"]) + str(r.randint(1980, 2005))
            return f"{local}@{r.choice(MAIL_DOMAINS_ZH)}"
        first, last = name.lower().replace("'", "").split()[:2]
        local = r.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{r.randint(1, 99)}"])
        return f"{local}@{r.choice(MAIL_DOMAINS_EN)}"

    def order_no(self, date) -> str:
        return f"NT{date:%Y%m%d}{self.rng.randint(10000, 99999)}"

    def tracking(self, carrier: str) -> str:
        r = self.rng
        if carrier == "SF":
            return "SF" + "".join(str(r.randint(0, 9)) for _ in range(13))
        if carrier == "JD":
            return "JDX0" + "".join(str(r.randint(0, 9)) for _ in range(11))
        return "".join(str(r.randint(0, 9)) for _ in range(10))  # DHL

    def bank_card(self) -> str:
        r = self.rng
        prefix, length = r.choice([("622202", 19), ("621700", 19), ("622848", 19), ("4", 16), ("5", 16)])
        body = prefix + "".join(str(r.randint(0, 9)) for _ in range(length - 1 - len(prefix)))
        number = body + luhn_check_digit(body)
        if r.random() < 0.5:
            return " ".join(number[i:i + 4] for i in range(0, len(number), 4))
        return number

    def resident_id(self) -> str:
        r = self.rng
        first17 = (r.choice(ID_REGIONS) + f"{r.randint(1970, 2003)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}"
                   + f"{r.randint(0, 999):03d}")
        return first17 + id_check_digit(first17)

    def zh_address(self) -> str:
        return self.rng.choice(ZH_ADDRESSES)

    def en_address(self) -> str:
        return self.rng.choice(EN_ADDRESSES)
