# ruff: noqa: E501  (long prose strings of data)
"""Returns and refunds policy, English and Chinese."""

RETURNS_EN = {
    "lang": "en",
    "title": "Returns and Refunds Policy",
    "intro": [
        "We want you to be happy with everything you buy from NovaTech Store. This policy explains how long "
        "you have to return an item, what condition it must be in, who pays for return shipping and how "
        "quickly your money comes back. It applies to orders placed on our website and in the NovaTech app.",
    ],
    "sections": [
        ("Return windows", [
            ("p", "How long you have depends on where the order was placed. All periods start on the day the "
                  "parcel is delivered (the date shown as Delivered in My Orders)."),
            ("ul", [
                "Mainland China: 7-day no-reason returns. You may return most items within 7 days of delivery "
                "without giving a reason.",
                "Mainland China, quality problems: return within 7 days or exchange for a new unit within 15 "
                "days of delivery. After 15 days, faulty products are repaired under the warranty policy.",
                "International store (orders paid in USD): 30 days from delivery for any reason.",
            ]),
        ]),
        ("Condition of returned items", [
            ("p", "Change-of-mind returns are accepted when the item can be sold again. Please make sure that:"),
            ("ul", [
                "the product is complete with all accessories, cables, manuals and free gifts;",
                "the original box is included and undamaged (a box opened to try the product is fine);",
                "there are no scratches, dents, stickers, engravings or signs of heavy use;",
                "tablets, watches and laptops are signed out of your Nova account and Find My Device is "
                "switched off.",
            ]),
            ("p", "For hygiene reasons, in-ear earbuds (Nova Buds Lite and Nova Buds Pro) cannot be returned "
                  "without a reason once the hygiene seal is opened. Over-ear headphones such as the Nova X1 and "
                  "Nova X1 Pro can still be returned after opening. Products with a quality problem are always "
                  "accepted, whether or not the seal is broken."),
        ]),
        ("How to return an item", [
            ("ul", [
                "Open My Orders, choose the order and tap Apply for Return (in Chinese: 申请售后).",
                "Choose the reason and add photos if the item is faulty or damaged.",
                "We review every request within 24 hours and send return instructions.",
                "Ship the item back within 7 days of approval, using the pickup or label we provide.",
            ]),
            ("p", "In mainland China returns go to our warehouse in Jiading, Shanghai; international returns go to "
                  "our service centre in Shenzhen."),
        ]),
        ("Return shipping costs", [
            ("table", ["Situation", "Mainland China", "International"], [
                ["Faulty, damaged in transit or wrong item", "Free SF Express pickup", "Free prepaid label"],
                ["Change of mind", "Paid by the customer", "Customer pays; our prepaid label costs $7.99, deducted from the refund"],
                ["Change of mind, Platinum member", "Free SF Express pickup", "Free prepaid label"],
            ]),
            ("p", "The original shipping fee is refunded when the whole order is returned because of a fault or "
                  "our mistake. It is not refunded for change-of-mind returns."),
        ]),
        ("Refunds", [
            ("p", "Our warehouse inspects each return within 2 business days of receiving it. Once it passes "
                  "inspection we refund the full amount paid for the item to the original payment method. How "
                  "long the money takes to appear depends on the payment method:"),
            ("ul", [
                "Alipay and WeChat Pay: 1-3 business days;",
                "UnionPay and Chinese bank cards: 3-7 business days;",
                "PayPal: 3-5 business days;",
                "international Visa and Mastercard: 5-10 business days.",
            ]),
            ("p", "Coupons used on a returned order are returned to your account if they have not expired, and "
                  "Nova Club points earned on the order are deducted. If an installment plan was used, the "
                  "remaining installments are cancelled by the provider."),
        ]),
        ("Items that cannot be returned without a reason", [
            ("ul", [
                "opened in-ear earbuds (see above);",
                "gift cards and Nova Care+ plans once activated;",
                "products that were customised or engraved at your request;",
                "items damaged after delivery through misuse.",
            ]),
        ]),
    ],
    "updated": "Last updated: 15 January 2026. NovaTech Store customer service.",
}

RETURNS_ZH = {
    "lang": "zh",
    "title": "退换货与退款政策",
    "intro": [
        "感谢您选购诺瓦科技商城的商品。本政策说明退货期限、商品状态要求、退货运费由谁承担以及退款到账时间，适用于官网和诺瓦App下单的全部订单。",
    ],
    "sections": [
        ("一、退换货期限", [
            ("p", "以下期限均自签收之日起计算（以“我的订单”中显示的签收日期为准）。"),
            ("ul", [
                "中国大陆订单：支持七天无理由退货，签收后7天内可申请退货，无需说明理由。",
                "中国大陆订单出现质量问题：签收后7天内可退货，15天内可换新；超过15天按保修政策免费维修。",
                "国际站订单（美元结算）：签收后30天内可申请退货。",
            ]),
        ]),
        ("二、退货商品要求", [
            ("p", "无理由退货的商品需不影响二次销售，具体要求如下："),
            ("ul", [
                "商品及配件、数据线、说明书、赠品齐全；",
                "原包装盒完好（为试用而拆开包装不影响退货）；",
                "商品无划痕、磕碰、贴纸、刻字或明显使用痕迹；",
                "平板、手表、笔记本电脑需退出诺瓦账号并关闭“查找设备”。",
            ]),
            ("p", "出于卫生原因，入耳式耳机（诺瓦Buds Lite、诺瓦Buds Pro）拆封后不支持七天无理由退货；头戴式耳机如诺瓦X1、X1 Pro拆封后仍可退货。商品存在质量问题的，无论是否拆封均可退换。"),
        ]),
        ("三、退货流程", [
            ("ul", [
                "进入“我的订单”，选择订单后点击“申请售后”；",
                "选择退货原因，质量问题请上传照片；",
                "我们会在24小时内完成审核并告知退货方式；",
                "审核通过后请在7天内寄回商品。",
            ]),
            ("p", "中国大陆退货寄回上海嘉定仓库，国际退货寄回深圳服务中心。"),
        ]),
        ("四、退货运费", [
            ("table", ["情况", "中国大陆", "国际站"], [
                ["质量问题、运输损坏或发错货", "顺丰免费上门取件", "提供免费预付运单"],
                ["无理由退货", "顾客承担运费", "顾客承担，可使用7.99美元预付运单（从退款中扣除）"],
                ["铂金卡会员无理由退货", "顺丰免费上门取件", "提供免费预付运单"],
            ]),
            ("p", "因质量问题或我方原因整单退货的，原运费一并退还；无理由退货不退还原运费。"),
        ]),
        ("五、退款时间", [
            ("p", "仓库收到退货后2个工作日内完成质检，质检通过后按原支付方式退款。到账时间如下："),
            ("ul", [
                "支付宝、微信支付：1-3个工作日；",
                "银联及国内银行卡：3-7个工作日；",
                "PayPal：3-5个工作日；",
                "境外Visa、Mastercard：5-10个工作日。",
            ]),
            ("p", "订单使用的优惠券如未过期将退回账户，该订单获得的会员积分会被扣回；使用分期付款的，剩余分期由分期机构取消。"),
        ]),
        ("六、不支持无理由退货的商品", [
            ("ul", [
                "已拆封的入耳式耳机；",
                "已激活的礼品卡和诺瓦Care+服务；",
                "按您要求定制或刻字的商品；",
                "签收后因使用不当造成损坏的商品。",
            ]),
        ]),
    ],
    "updated": "最后更新：2026年1月15日　诺瓦科技商城客服中心",
}
