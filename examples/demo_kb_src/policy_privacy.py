# ruff: noqa: E501  (long prose strings of data)
"""Privacy and account policy, English and Chinese (rendered as plain text)."""

PRIVACY_EN = {
    "lang": "en",
    "title": "Privacy and Account Policy",
    "intro": [
        "NovaTech Store respects your privacy. This policy explains what personal information we collect, why we "
        "use it, who we share it with, how long we keep it and how you can manage or delete your account. It "
        "follows China's Personal Information Protection Law (PIPL) and, for customers in the European Union, "
        "the GDPR.",
    ],
    "sections": [
        ("Information we collect", [
            ("ul", [
                "Account details: your name, mobile number, email address and password (stored only as a hash).",
                "Order details: delivery addresses, the products you bought, invoices and after-sales requests.",
                "Customer-service records: chat messages and call notes with our agents.",
                "Device information: app version, device model and an anonymous identifier used for security.",
            ]),
            ("p", "Payment card numbers are entered on the payment provider's page. NovaTech Store never stores "
                  "your full card number, CVV or payment passwords."),
        ]),
        ("How we use it", [
            ("p", "We use your information to process and deliver orders, provide after-sales service and "
                  "warranty repairs, run Nova Club points and benefits, prevent fraud and, only if you agree, send "
                  "marketing messages. We do not sell your personal information to anyone."),
        ]),
        ("Who we share it with", [
            ("p", "We share only what is needed: your name, phone number and address with couriers (SF Express, "
                  "JD Logistics, DHL) to deliver parcels, and order amounts with payment providers (Alipay, WeChat "
                  "Pay, UnionPay, PayPal and card networks) to take payment. We disclose information to authorities "
                  "only when the law requires it."),
        ]),
        ("Where data is stored and for how long", [
            ("p", "Data of mainland China customers is stored in mainland China; data of international customers "
                  "is stored in Singapore. Order records are kept for 3 years after the order for tax and warranty "
                  "purposes. Customer-service chat records are kept for 2 years and then deleted or anonymised."),
        ]),
        ("Your rights", [
            ("ul", [
                "See and correct your information in Settings > Account & Security at any time.",
                "Request a copy of your data in Settings > Privacy > Download my data; we send it within 15 "
                "working days.",
                "Withdraw consent to marketing at any time: reply TD to an SMS, use the unsubscribe link in an email "
                "or switch it off in Settings > Notifications. Order and delivery notices are not affected.",
            ]),
        ]),
        ("Deleting your account", [
            ("p", "Go to Settings > Account & Security > Delete Account. You can delete your account once you have no "
                  "unfinished orders, pending refunds or repairs in progress. Deletion is completed within 15 "
                  "working days; after that your points, coupons and order history cannot be recovered."),
        ]),
        ("Keeping your account safe", [
            ("p", "Use a password of at least 8 characters. If you forget it, reset it from the login page with an "
                  "SMS code or an email link; reset links are valid for 30 minutes. Our agents will never ask for "
                  "your password, SMS codes or full card number."),
        ]),
    ],
    "updated": "Last updated: 15 January 2026.",
}

PRIVACY_ZH = {
    "lang": "zh",
    "title": "隐私与账号政策",
    "intro": [
        "诺瓦科技商城重视您的隐私。本政策说明我们收集哪些个人信息、如何使用、与谁共享、保存多久，以及如何管理或注销账号。本政策依据《中华人民共和国个人信息保护法》制定，欧盟用户同时适用GDPR。",
    ],
    "sections": [
        ("我们收集的信息", [
            ("ul", [
                "账号信息：姓名、手机号、邮箱和密码（仅保存加密后的哈希值）；",
                "订单信息：收货地址、购买的商品、发票和售后申请；",
                "客服记录：与客服的聊天内容和通话记录；",
                "设备信息：App版本、设备型号以及用于安全防护的匿名标识。",
            ]),
            ("p", "银行卡号在支付机构的页面中填写，诺瓦科技商城不会保存您的完整卡号、CVV或支付密码。"),
        ]),
        ("信息的使用", [
            ("p", "我们使用您的信息处理和配送订单、提供售后和保修服务、发放会员积分和权益、防范欺诈，并在征得您同意后发送营销信息。我们不会出售您的个人信息。"),
        ]),
        ("信息的共享", [
            ("p", "我们只共享必要的信息：向顺丰、京东物流和DHL提供姓名、电话和地址用于配送；向支付宝、微信支付、银联、PayPal及卡组织提供订单金额用于收款。仅在法律要求时向有关部门披露信息。"),
        ]),
        ("存储地点与保存期限", [
            ("p", "中国大陆用户的数据存储在中国境内，国际站用户的数据存储在新加坡。订单记录出于税务和保修需要保存3年；客服聊天记录保存2年，之后删除或匿名化处理。"),
        ]),
        ("您的权利", [
            ("ul", [
                "随时在“设置”-“账号与安全”中查看和更正个人信息；",
                "在“设置”-“隐私”-“下载我的数据”中申请数据副本，我们会在15个工作日内提供；",
                "随时撤回营销授权：回复短信“TD”、点击邮件中的退订链接，或在“设置”-“消息通知”中关闭，订单和物流通知不受影响。",
            ]),
        ]),
        ("注销账号", [
            ("p", "进入“设置”-“账号与安全”-“注销账号”提交申请。需没有未完成的订单、退款或维修。我们会在15个工作日内完成注销，注销后积分、优惠券和订单记录均无法恢复。"),
        ]),
        ("账号安全", [
            ("p", "密码至少8位。忘记密码时，可在登录页通过短信验证码或邮件链接重置，重置链接30分钟内有效。客服不会向您索要密码、短信验证码或完整银行卡号。"),
        ]),
    ],
    "updated": "最后更新：2026年1月15日",
}

DOCS = ("txt", PRIVACY_EN, PRIVACY_ZH)
