# ruff: noqa: E501  (long prose strings of data)
"""The one source of truth for the fictional NovaTech Store world.

Every fact quoted by the FAQ, the policies, the catalogue and the chat logs comes from
here, so the documents stay consistent with each other.
"""

COMPANY_EN = "NovaTech Store"
COMPANY_ZH = "诺瓦科技商城"
YEAR = 2026

# --- customer service -------------------------------------------------------------
SERVICE_HOURS = "9:00-22:00"          # Beijing time (UTC+8), every day
OFFLINE_REPLY_HOURS = 12              # messages left outside hours answered within

# --- shipping ---------------------------------------------------------------------
FREE_SHIP_CNY = 99
SHIP_FEE_CNY = 10
FREE_SHIP_USD = 35
INTL_STANDARD_FEE_USD = 6.99
INTL_EXPRESS_FEE_USD = 19.99
CUTOFF = "16:00"                      # paid before this ships the same day
UNPAID_CANCEL_MIN = 30

# --- returns ----------------------------------------------------------------------
NO_REASON_DAYS_CN = 7
QUALITY_EXCHANGE_DAYS_CN = 15
INTL_RETURN_DAYS = 30
RETURN_APPROVAL_HOURS = 24
RETURN_SHIP_WITHIN_DAYS = 7
INSPECTION_DAYS = 2                   # business days after the warehouse receives it
INTL_LABEL_USD = 7.99
PRICE_PROTECT_DAYS = 7

REFUND_TIMES = [
    # method_en, method_zh, business days
    ("Alipay / WeChat Pay", "支付宝 / 微信支付", "1-3"),
    ("UnionPay and Chinese bank cards", "银联及国内银行卡", "3-7"),
    ("PayPal", "PayPal", "3-5"),
    ("International Visa / Mastercard", "境外Visa / Mastercard", "5-10"),
]

# --- warranty ---------------------------------------------------------------------
WARRANTY_STD = 12
WARRANTY_PRO = 24
REPAIR_DAYS = "5-7"
REPAIRED_PART_DAYS = 90
BATTERY_THRESHOLD = 80
CARE_PLUS_MONTHS = 12
CARE_PLUS_BUY_WITHIN_DAYS = 30
CARE_PLUS_PRICE = [
    # group_en, group_zh, CNY, USD
    ("Headphones, earbuds, watches and speakers", "耳机、手表、音箱", 149, 22),
    ("Nova Pad 11 and Nova Book 14", "诺瓦Pad 11、诺瓦Book 14", 399, 59),
]
OUT_OF_WARRANTY = [
    # item_en, item_zh, CNY, USD
    ("X1 / X1 Pro battery replacement", "X1 / X1 Pro 电池更换", 199, 35),
    ("Watch S2 screen replacement", "Watch S2 屏幕更换", 399, 65),
    ("Nova Pad 11 screen replacement", "诺瓦Pad 11 屏幕更换", 899, 139),
]

# --- payment ----------------------------------------------------------------------
INSTALMENT_FREE_MIN_CNY = 1000        # 3 and 6 instalments interest-free from this
INSTALMENT_12_FEE = "0.5%"            # per instalment for the 12-month plan
PAYPAL_PAY_IN_4 = (30, 1500)          # USD range, US customers
INVOICE_REQUEST_DAYS = 90
SPECIAL_INVOICE_DAYS = 3              # business days to issue a VAT special invoice

# --- membership (Nova Club / 诺瓦会员) --------------------------------------------
TIERS = [
    # en, zh, 12-month spend CNY, USD, points multiplier, birthday coupon CNY, USD
    ("Silver", "银卡", 0, 0, "1x", 20, 3),
    ("Gold", "金卡", 2000, 300, "1.5x", 50, 8),
    ("Platinum", "铂金卡", 8000, 1200, "2x", 100, 15),
]
POINTS_PER_CNY = 1
POINTS_PER_USD = 5
POINTS_VALUE = 100                    # 100 points = CNY 1 / USD 0.15
POINTS_MAX_SHARE = 20                 # % of an order payable with points

# --- privacy ----------------------------------------------------------------------
DELETE_ACCOUNT_DAYS = 15
EXPORT_DATA_DAYS = 15
CHAT_RETENTION_YEARS = 2
RESET_LINK_MIN = 30

# --- products ---------------------------------------------------------------------
# sku, name, name_zh, category, category_zh, CNY, USD, warranty months, colors,
# description, description_zh
PRODUCTS = [
    ("NT-X1", "Nova X1 Noise-Cancelling Headphones", "诺瓦X1降噪耳机", "Audio", "音频",
     899, 129, 12, "Black;Silver",
     "Over-ear Bluetooth 5.3 headphones with hybrid active noise cancelling (up to 35 dB), "
     "30 hours of battery life with ANC on and a 10-minute quick charge for 5 hours of playback.",
     "头戴式蓝牙5.3耳机，混合主动降噪最高35分贝；开启降噪续航30小时，快充10分钟可听5小时。"),
    ("NT-X1P", "Nova X1 Pro Noise-Cancelling Headphones", "诺瓦X1 Pro降噪耳机", "Audio", "音频",
     1499, 219, 24, "Midnight Black;Pearl White;Navy Blue",
     "Flagship over-ear headphones with adaptive noise cancelling (up to 45 dB), LDAC hi-res audio, "
     "multipoint pairing with 2 devices and 40 hours of battery life with ANC on. 24-month warranty.",
     "旗舰头戴式耳机，自适应降噪最高45分贝，支持LDAC高清音频和双设备同时连接，开启降噪续航40小时，享24个月保修。"),
    ("NT-BL", "Nova Buds Lite True Wireless Earbuds", "诺瓦Buds Lite真无线耳机", "Audio", "音频",
     199, 29, 12, "White;Black;Mint",
     "Lightweight 4 g earbuds with 6 hours of playback (24 hours with the case), IPX4 splash resistance "
     "and touch controls.",
     "单耳仅4克的轻巧耳机，单次续航6小时，配合充电盒共24小时，IPX4防溅水，触控操作。"),
    ("NT-BP", "Nova Buds Pro Noise-Cancelling Earbuds", "诺瓦Buds Pro降噪耳机", "Audio", "音频",
     599, 89, 24, "Black;White",
     "In-ear earbuds with active noise cancelling, transparency mode, wireless charging case and "
     "8 hours of playback (32 hours with the case). 24-month warranty.",
     "入耳式主动降噪耳机，支持通透模式和无线充电盒，单次续航8小时，配合充电盒共32小时，享24个月保修。"),
    ("NT-PAD11", "Nova Pad 11 Tablet", "诺瓦Pad 11平板电脑", "Tablets", "平板电脑",
     2299, 329, 12, "Space Grey;Silver",
     "11-inch 2.5K 120 Hz display, 8 GB RAM and 128 GB storage (expandable by microSD up to 1 TB), "
     "8,600 mAh battery with 33 W charging, quad speakers.",
     "11英寸2.5K 120Hz屏幕，8GB内存+128GB存储（支持最大1TB microSD扩展），8600mAh电池，33W快充，四扬声器。"),
    ("NT-WS2", "Nova Watch S2 Smartwatch", "诺瓦Watch S2智能手表", "Wearables", "智能穿戴",
     1099, 159, 12, "Black;Rose Gold;Forest Green",
     "1.43-inch AMOLED smartwatch with up to 14 days of battery life, GPS, heart-rate and SpO2 "
     "monitoring, 5 ATM water resistance and NFC payments (mainland China).",
     "1.43英寸AMOLED智能手表，续航最长14天，支持GPS、心率和血氧监测，5ATM防水，支持NFC支付（限中国大陆）。"),
    ("NT-PC20K", "PowerCube 20000 Power Bank", "PowerCube 20000移动电源", "Power", "充电配件",
     179, 25, 12, "Black;White",
     "20,000 mAh (74 Wh) power bank with 65 W USB-C PD output, enough to charge a laptop; "
     "allowed in airline carry-on luggage. Ships internationally by Standard shipping only.",
     "20000mAh（74Wh）移动电源，USB-C PD最大输出65W，可为笔记本充电；符合民航随身携带规定。国际订单仅支持标准配送。"),
    ("NT-BOOK14", "Nova Book 14 Laptop", "诺瓦Book 14笔记本电脑", "Laptops", "笔记本电脑",
     5499, 799, 12, "Silver;Graphite",
     "14-inch 2.8K laptop, 1.3 kg, with 16 GB RAM, 512 GB SSD, a 70 Wh battery for up to 12 hours "
     "of video and a 65 W USB-C charger in the box.",
     "14英寸2.8K屏幕轻薄本，重1.3千克，16GB内存+512GB固态硬盘，70Wh电池视频续航最长12小时，随附65W USB-C充电器。"),
    ("NT-GAN65", "Nova 65W GaN Charger", "诺瓦65W氮化镓充电器", "Power", "充电配件",
     149, 22, 12, "White",
     "Compact 65 W gallium-nitride charger with 2 USB-C ports and 1 USB-A port; charges a Nova Book 14 "
     "and a phone at the same time. Foldable pins (CN plug; US/UK/EU plug in the international store).",
     "小巧的65W氮化镓充电器，2个USB-C口+1个USB-A口，可同时为诺瓦Book 14和手机充电，插脚可折叠（国标插头）。"),
    ("NT-CBL2M", "Nova USB-C to USB-C Cable 2 m (100 W)", "诺瓦USB-C双头数据线 2米 100W", "Accessories", "配件",
     49, 9, 12, "Black;White",
     "Braided 2-metre USB-C cable rated for 100 W charging and 480 Mbps data.",
     "编织线身，长2米，支持100W快充和480Mbps数据传输。"),
    ("NT-HOME", "Nova Home Mini Smart Speaker", "诺瓦Home Mini智能音箱", "Smart Home", "智能家居",
     299, 45, 12, "Charcoal;Chalk",
     "Compact Wi-Fi smart speaker with a voice assistant in Mandarin and English, Bluetooth 5.0 and "
     "smart-home control.",
     "小巧的Wi-Fi智能音箱，语音助手支持普通话和英语，蓝牙5.0，可控制智能家居设备。"),
    ("NT-MAG15", "Nova MagCharge 15W Wireless Charging Pad", "诺瓦15W无线充电板", "Power", "充电配件",
     99, 15, 12, "Black",
     "15 W Qi2 magnetic wireless charging pad for phones and the Nova Buds Pro case; USB-C cable included, "
     "power adapter sold separately.",
     "15W Qi2磁吸无线充电板，可为手机和诺瓦Buds Pro充电盒充电，附USB-C线，不含电源适配器。"),
]

PRODUCT_BY_SKU = {p[0]: p for p in PRODUCTS}
