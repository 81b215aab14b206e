# ruff: noqa: E501  (long prose strings of data)
"""Warranty and repair policy, English and Chinese (rendered as PDF)."""

WARRANTY_EN = {
    "lang": "en",
    "title": "Warranty and Repair Policy",
    "intro": [
        "Every product sold by NovaTech Store comes with a free manufacturer's warranty. This document "
        "explains how long the warranty lasts, what it covers and how to get a product repaired.",
    ],
    "sections": [
        ("Warranty period", [
            ("p", "The warranty starts on the date the product is delivered to you."),
            ("table", ["Products", "Warranty"], [
                ["Nova X1 Pro, Nova Buds Pro (Pro models)", "24 months"],
                ["Nova X1, Nova Buds Lite, Nova Watch S2, Nova Home Mini", "12 months"],
                ["Nova Pad 11, Nova Book 14", "12 months"],
                ["PowerCube 20000, chargers, cables and charging pads", "12 months"],
            ]),
            ("p", "Replaced or repaired parts are covered for 90 days or for the rest of the original warranty, "
                  "whichever is longer. The warranty is the same in mainland China and in the international "
                  "store, and it stays with the product if it is given as a gift."),
        ]),
        ("What is covered", [
            ("ul", [
                "defects in materials and workmanship under normal use;",
                "hardware failures such as a dead pixel cluster, a charging port that stops working, or "
                "Bluetooth that will not pair;",
                "batteries whose capacity falls below 80% of the original within the warranty period.",
            ]),
        ]),
        ("What is not covered", [
            ("ul", [
                "accidental damage, for example drops, cracked screens or crushed headbands;",
                "liquid damage beyond the product's rating (the Watch S2 is rated 5 ATM, Buds Lite IPX4);",
                "damage caused by repairs or modifications made outside NovaTech service centres;",
                "normal cosmetic wear such as scratches on the casing;",
                "consumables: ear tips, ear cushions and watch straps;",
                "lost or stolen products.",
            ]),
        ]),
        ("How to request a repair", [
            ("p", "Open My Orders, choose the order and select After-sales, then Repair. Describe the fault and "
                  "attach a photo or video if you can. You will need the order number or the invoice and the "
                  "serial number printed on the box."),
            ("ul", [
                "Mainland China: SF Express picks the product up from your address for free and returns it free.",
                "International: we email a prepaid DHL label; we pay shipping both ways for valid claims.",
                "Repairs take 5-7 business days after the product reaches our service centre in Shenzhen.",
                "If a product cannot be repaired, we replace it with a new unit of the same model (or a model of "
                "equal or higher value if it is no longer sold).",
            ]),
            ("p", "Please back up your data before sending a Nova Pad 11, Nova Book 14 or Nova Watch S2; repairs may "
                  "reset the device to factory settings."),
        ]),
        ("Nova Care+ extended warranty", [
            ("p", "Nova Care+ adds 12 months to the standard warranty and includes one accidental-damage repair "
                  "during the plan. It costs ¥149 / $22 for headphones, earbuds, watches and speakers and "
                  "¥399 / $59 for the Nova Pad 11 and Nova Book 14. It must be bought within 30 days of the "
                  "product purchase."),
        ]),
        ("Out-of-warranty repairs", [
            ("p", "After the warranty ends we still repair products at a fixed price, quoted before any work "
                  "starts. Examples: X1 / X1 Pro battery replacement ¥199 ($35), Watch S2 screen replacement "
                  "¥399 ($65), Nova Pad 11 screen replacement ¥899 ($139). Paid repairs carry a 90-day warranty."),
        ]),
    ],
    "updated": "Last updated: 15 January 2026. NovaTech Store after-sales service centre, Shenzhen.",
}

WARRANTY_ZH = {
    "lang": "zh",
    "title": "保修与维修政策",
    "intro": [
        "诺瓦科技商城售出的所有产品均享受免费保修服务。本文件说明保修期限、保修范围以及申请维修的流程。",
    ],
    "sections": [
        ("一、保修期限", [
            ("p", "保修期自产品签收之日起计算。"),
            ("table", ["产品", "保修期"], [
                ["诺瓦X1 Pro、诺瓦Buds Pro（Pro系列）", "24个月"],
                ["诺瓦X1、诺瓦Buds Lite、诺瓦Watch S2、诺瓦Home Mini", "12个月"],
                ["诺瓦Pad 11、诺瓦Book 14", "12个月"],
                ["PowerCube 20000、充电器、数据线、无线充电板", "12个月"],
            ]),
            ("p", "维修或更换的部件享受90天保修，或原保修期剩余时间，以较长者为准。中国大陆与国际站保修政策相同，产品转赠他人后保修继续有效。"),
        ]),
        ("二、保修范围", [
            ("ul", [
                "正常使用下出现的材料或工艺缺陷；",
                "硬件故障，例如屏幕坏点、充电口失灵、蓝牙无法配对等；",
                "保修期内电池健康度低于80%的，免费更换电池。",
            ]),
        ]),
        ("三、不在保修范围内的情况", [
            ("ul", [
                "意外损坏，例如摔落、屏幕碎裂、头梁压断；",
                "超出防水等级的进液（Watch S2为5ATM，Buds Lite为IPX4）；",
                "非诺瓦服务中心拆修或改装造成的损坏；",
                "正常使用产生的外观磨损，如外壳划痕；",
                "耳塞套、耳罩、表带等耗材；",
                "产品丢失或被盗。",
            ]),
        ]),
        ("四、维修申请流程", [
            ("p", "进入“我的订单”，选择订单后点击“申请售后”-“维修”，描述故障并尽量上传照片或视频。需提供订单号或发票，以及包装盒上的序列号。"),
            ("ul", [
                "中国大陆：顺丰免费上门取件，修好后免费寄回；",
                "国际站：我们通过邮件发送DHL预付运单，保修范围内往返运费由我们承担；",
                "深圳服务中心收到产品后5-7个工作日内完成维修；",
                "无法修复的，更换同型号新品（如已停售，更换同等或更高价值的型号）。",
            ]),
            ("p", "寄修诺瓦Pad 11、诺瓦Book 14或诺瓦Watch S2前请备份数据，维修可能会恢复出厂设置。"),
        ]),
        ("五、诺瓦Care+延保服务", [
            ("p", "诺瓦Care+可在标准保修基础上延长12个月，并包含一次意外损坏维修。耳机、手表、音箱类产品149元（22美元），诺瓦Pad 11和诺瓦Book 14为399元（59美元），需在购买产品后30天内加购。"),
        ]),
        ("六、过保维修", [
            ("p", "保修期结束后仍可付费维修，维修前会先报价。例如：X1 / X1 Pro更换电池199元，Watch S2更换屏幕399元，诺瓦Pad 11更换屏幕899元。付费维修享受90天保修。"),
        ]),
    ],
    "updated": "最后更新：2026年1月15日　诺瓦科技商城深圳售后服务中心",
}

DOCS = ("pdf", WARRANTY_EN, WARRANTY_ZH)
