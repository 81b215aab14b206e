# ruff: noqa: E501  (long prose strings of data)
"""Nova Club membership programme, English and Chinese (rendered as Markdown)."""

MEMBERSHIP_EN = {
    "lang": "en",
    "title": "Nova Club Membership",
    "intro": [
        "Nova Club is NovaTech Store's free membership programme. Every registered customer is a member and "
        "earns points and benefits on every order, in the mainland China store and in the international store.",
    ],
    "sections": [
        ("Membership tiers", [
            ("p", "Your tier depends on how much you spent in the last 12 months (after discounts and refunds). "
                  "You move up as soon as you reach a threshold, and a tier is kept for at least 12 months."),
            ("table", ["Tier", "Spend in 12 months", "Points multiplier", "Birthday coupon"], [
                ["Silver", "from sign-up", "1x", "¥20 / $3"],
                ["Gold", "¥2,000 / $300", "1.5x", "¥50 / $8"],
                ["Platinum", "¥8,000 / $1,200", "2x", "¥100 / $15"],
            ]),
            ("p", "Tiers are reviewed on the first day of every month. If your spending in the last 12 months "
                  "falls below your tier's threshold after the 12 months are up, you move down one tier."),
        ]),
        ("Benefits", [
            ("ul", [
                "All members: points on every order, a birthday coupon in your birthday month, member-only sales.",
                "Gold: everything in Silver, plus free shipping on every mainland China order with no minimum "
                "and priority in the online chat queue.",
                "Platinum: everything in Gold, plus free return shipping on change-of-mind returns and early "
                "access to new products 24 hours before everyone else.",
            ]),
        ]),
        ("Earning points", [
            ("ul", [
                "Mainland China store: 1 point for every ¥1 paid.",
                "International store: 5 points for every $1 paid.",
                "Gold members earn 1.5 times and Platinum members 2 times these points.",
                "Points are credited 7 days after delivery, when the return window for no-reason returns has "
                "passed. Points earned on an order are removed if the order is returned.",
            ]),
        ]),
        ("Using points", [
            ("p", "100 points are worth ¥1 (or $0.15) off an order. Points can pay for up to 20% of an order and "
                  "can be combined with one store coupon. Points cannot be exchanged for cash or transferred to "
                  "another account."),
        ]),
        ("Points expiry", [
            ("p", "Points expire on 31 December of the year after the year in which they were earned. For example, "
                  "points earned in March 2026 expire on 31 December 2027. We remind you by SMS or email 30 days "
                  "before points expire."),
        ]),
        ("Leaving Nova Club", [
            ("p", "Membership ends when you delete your NovaTech account; unused points and coupons are then lost "
                  "and cannot be restored."),
        ]),
    ],
    "updated": "Last updated: 15 January 2026.",
}

MEMBERSHIP_ZH = {
    "lang": "zh",
    "title": "诺瓦会员说明",
    "intro": [
        "诺瓦会员（Nova Club）是诺瓦科技商城的免费会员计划。注册即成为会员，在中国大陆站和国际站的每笔订单都可获得积分和会员权益。",
    ],
    "sections": [
        ("会员等级", [
            ("p", "会员等级根据近12个月的累计实付消费金额（扣除优惠和退款）确定，达到门槛立即升级，等级至少保留12个月。"),
            ("table", ["等级", "近12个月消费", "积分倍数", "生日券"], [
                ["银卡", "注册即得", "1倍", "20元 / 3美元"],
                ["金卡", "2000元 / 300美元", "1.5倍", "50元 / 8美元"],
                ["铂金卡", "8000元 / 1200美元", "2倍", "100元 / 15美元"],
            ]),
            ("p", "等级于每月1日复核。等级保留期满后，如近12个月消费低于当前等级门槛，将降一级。"),
        ]),
        ("会员权益", [
            ("ul", [
                "所有会员：每笔订单得积分，生日当月发放生日券，参加会员专享活动；",
                "金卡：享银卡全部权益，另享中国大陆订单全场包邮（不限金额）和在线客服优先接入；",
                "铂金卡：享金卡全部权益，另享无理由退货免运费，新品提前24小时购买。",
            ]),
        ]),
        ("积分获取", [
            ("ul", [
                "中国大陆站：每实付1元得1积分；",
                "国际站：每实付1美元得5积分；",
                "金卡会员1.5倍积分，铂金卡会员2倍积分；",
                "积分在签收7天后（无理由退货期结束后）到账，订单退货后相应积分将被扣回。",
            ]),
        ]),
        ("积分使用", [
            ("p", "100积分可抵扣1元（国际站抵扣0.15美元），单笔订单最多可抵扣订单金额的20%，可与一张店铺优惠券同时使用。积分不能兑换现金，也不能转让给其他账号。"),
        ]),
        ("积分有效期", [
            ("p", "积分在获得年度的次年12月31日到期。例如2026年3月获得的积分将于2027年12月31日到期。积分到期前30天我们会通过短信或邮件提醒。"),
        ]),
        ("退出会员", [
            ("p", "注销诺瓦账号后会员资格随之终止，未使用的积分和优惠券将作废且无法恢复。"),
        ]),
    ],
    "updated": "最后更新：2026年1月15日",
}

DOCS = ("md", MEMBERSHIP_EN, MEMBERSHIP_ZH)
