# ruff: noqa: E501  (long prose strings of data)
"""Payment, installments and invoices policy, English and Chinese (rendered as DOCX)."""

PAYMENT_EN = {
    "lang": "en",
    "title": "Payment, Installments and Invoices",
    "intro": [
        "This policy lists the payment methods accepted by NovaTech Store, explains installment plans and "
        "tells you how to get an invoice or receipt. Mainland China orders are charged in Chinese yuan (CNY); "
        "international orders are charged in US dollars (USD).",
    ],
    "sections": [
        ("Accepted payment methods", [
            ("p", "Mainland China store (CNY):"),
            ("ul", [
                "Alipay, including Huabei installments;",
                "WeChat Pay;",
                "UnionPay debit and credit cards from Chinese banks.",
            ]),
            ("p", "International store (USD):"),
            ("ul", [
                "Visa and Mastercard credit and debit cards;",
                "PayPal, including PayPal Pay in 4 for US customers.",
            ]),
            ("p", "Cash on delivery is not available, and an order can be paid with only one payment method. "
                  "Your bank may charge a foreign transaction fee when a card issued outside the United States "
                  "is charged in USD."),
        ]),
        ("Paying for an order", [
            ("p", "After you submit an order you have 30 minutes to pay. Unpaid orders are cancelled "
                  "automatically and any coupon used on them is returned to your account. Card payments are "
                  "verified with 3-D Secure, and NovaTech Store never sees or stores your full card number."),
        ]),
        ("Installment plans", [
            ("table", ["Plan", "Where", "Cost"], [
                ["3 or 6 installments", "Huabei or Chinese credit card", "Interest-free on orders of ¥1,000 or more"],
                ["3 or 6 installments", "Huabei or Chinese credit card, orders under ¥1,000", "Provider's standard fee"],
                ["12 installments", "Huabei or Chinese credit card", "0.5% fee per installment"],
                ["PayPal Pay in 4", "US customers, orders of $30-$1,500", "4 interest-free payments every 2 weeks"],
            ]),
            ("p", "Installments are arranged by Alipay, your bank or PayPal, which decide whether to approve "
                  "them. If you return an item bought in installments, the refund goes to the provider and the "
                  "remaining installments are cancelled."),
        ]),
        ("Invoices (fapiao) for mainland China orders", [
            ("p", "Every mainland order receives an electronic VAT general invoice (电子普通发票) automatically "
                  "after delivery. You can download it from My Orders > Invoice."),
            ("ul", [
                "Personal or company title: enter it at checkout or later in My Orders.",
                "VAT special invoice (增值税专用发票) for companies: provide the company name, tax ID, "
                "registered address, phone and bank account; it is issued within 3 business days.",
                "You can request an invoice or change its title up to 90 days after delivery; the old invoice is "
                "cancelled and a new one issued.",
                "When an item is returned, its invoice is cancelled or a red-letter (credit) invoice is issued.",
            ]),
        ]),
        ("Receipts for international orders", [
            ("p", "International customers receive a PDF receipt by email when the order ships, showing the "
                  "items, prices, shipping fee and any VAT collected at checkout. A copy can be downloaded "
                  "from My Orders at any time."),
        ]),
        ("Price protection and coupons", [
            ("p", "If the price of an item drops within 7 days of payment, you can claim the difference once per "
                  "item in My Orders > Price Protection; it is refunded to the original payment method. Only one "
                  "store coupon can be used per order, but it can be combined with Nova Club points."),
        ]),
    ],
    "updated": "Last updated: 15 January 2026.",
}

PAYMENT_ZH = {
    "lang": "zh",
    "title": "支付、分期与发票说明",
    "intro": [
        "本说明介绍诺瓦科技商城支持的支付方式、分期付款规则以及发票和收据的开具方式。中国大陆订单以人民币结算，国际站订单以美元结算。",
    ],
    "sections": [
        ("支持的支付方式", [
            ("p", "中国大陆（人民币）："),
            ("ul", [
                "支付宝（含花呗分期）；",
                "微信支付；",
                "银联借记卡和信用卡。",
            ]),
            ("p", "国际站（美元）："),
            ("ul", [
                "Visa、Mastercard信用卡及借记卡；",
                "PayPal（美国用户可使用PayPal Pay in 4分4期付款）。",
            ]),
            ("p", "暂不支持货到付款，每笔订单只能使用一种支付方式。"),
        ]),
        ("订单支付", [
            ("p", "订单提交后请在30分钟内完成支付，超时未支付的订单将自动取消，已使用的优惠券会退回账户。银行卡支付经过3-D Secure验证，诺瓦科技商城不会查看或保存您的完整卡号。"),
        ]),
        ("分期付款", [
            ("table", ["分期方案", "适用方式", "费用"], [
                ["3期 / 6期", "花呗或信用卡，订单满1000元", "免息"],
                ["3期 / 6期", "花呗或信用卡，订单不满1000元", "按分期机构标准收取手续费"],
                ["12期", "花呗或信用卡", "每期手续费0.5%"],
                ["PayPal Pay in 4", "美国用户，订单30-1500美元", "分4期，每2周1期，免息"],
            ]),
            ("p", "分期由支付宝、发卡银行或PayPal提供并审核。分期购买的商品退货后，退款退回分期机构，剩余分期自动取消。"),
        ]),
        ("发票（中国大陆订单）", [
            ("p", "中国大陆订单签收后系统自动开具电子普通发票，可在“我的订单”-“发票”中下载。"),
            ("ul", [
                "发票抬头可选个人或单位，可在下单时填写，也可之后在“我的订单”中补填；",
                "企业可申请增值税专用发票，需提供单位名称、税号、注册地址、电话及开户行账号，3个工作日内开具；",
                "签收后90天内可申请开票或修改抬头，原发票作废后重新开具；",
                "商品退货后，对应发票作废或开具红字发票。",
            ]),
        ]),
        ("国际站收据", [
            ("p", "国际站订单发货时会通过邮件发送PDF收据，列明商品、价格、运费及结账时代收的增值税，也可随时在“我的订单”中下载。"),
        ]),
        ("价格保护与优惠券", [
            ("p", "付款后7天内商品降价的，每件商品可在“我的订单”-“价格保护”中申请一次差价，原路退回。每笔订单限用一张店铺优惠券，可与会员积分同时使用。"),
        ]),
    ],
    "updated": "最后更新：2026年1月15日",
}

DOCS = ("docx", PAYMENT_EN, PAYMENT_ZH)
