# ruff: noqa: E501  (long prose strings of data)
"""Shipping and delivery policy, English and Chinese (rendered as web pages)."""

SHIPPING_EN = {
    "lang": "en",
    "title": "Shipping and Delivery",
    "intro": [
        "NovaTech Store ships from two warehouses: Jiading, Shanghai for mainland China orders and Shenzhen for "
        "international orders. This page explains our couriers, shipping fees, dispatch times and delivery "
        "times.",
    ],
    "sections": [
        ("Couriers", [
            ("p", "In mainland China every order ships with SF Express by default. If you prefer, choose JD "
                  "Logistics at checkout; the fee and delivery time are the same. International orders ship with "
                  "DHL eCommerce (Standard) or DHL Express (Express)."),
        ]),
        ("Shipping fees", [
            ("ul", [
                "Mainland China: free shipping on orders of ¥99 or more (after discounts); orders under ¥99 pay a "
                "flat ¥10.",
                "Gold and Platinum Nova Club members: free shipping on every mainland order, with no minimum.",
                "International Standard: free on orders of $35 or more; $6.99 below $35.",
                "International Express: a flat $19.99 per order, whatever the order value.",
            ]),
        ]),
        ("Dispatch times", [
            ("p", "Orders paid before 16:00 Beijing time (UTC+8) on any day ship the same day; orders paid later ship "
                  "the next day. During large sales such as 618 and Double 11 dispatch may take up to 48 hours. "
                  "You receive the tracking number by SMS or email as soon as the parcel leaves the warehouse, and "
                  "you can follow it in My Orders."),
        ]),
        ("Delivery times", [
            ("table", ["Destination", "Courier", "Delivery time"], [
                ["Jiangsu, Zhejiang, Shanghai, Pearl River Delta", "SF Express / JD Logistics", "1-2 days"],
                ["Other provincial capitals and major cities", "SF Express / JD Logistics", "2-3 days"],
                ["Remote areas (Xinjiang, Tibet, Qinghai, parts of Inner Mongolia)", "SF Express / JD Logistics", "4-7 days"],
                ["International Standard", "DHL eCommerce", "7-15 business days"],
                ["International Express", "DHL Express", "3-6 business days"],
            ]),
        ]),
        ("International shipping", [
            ("p", "Our international store ships to more than 30 countries and regions, including Hong Kong, Macau "
                  "and Taiwan, the United States, Canada, the United Kingdom, the European Union, Australia, "
                  "Japan, South Korea and Singapore. Prices are in US dollars. We do not deliver to PO boxes."),
            ("ul", [
                "Import duties and taxes are paid by the customer on delivery.",
                "For the UK and the EU, VAT is collected at checkout on parcels up to £135 / €150, so nothing more "
                "is due on delivery.",
                "The PowerCube 20000 power bank ships by Standard only, because of airline rules for lithium "
                "batteries.",
            ]),
        ]),
        ("Changing the address", [
            ("p", "You can change the delivery address in My Orders until the order ships. After it has shipped, "
                  "contact customer service and we will ask the courier to redirect the parcel; redirection is "
                  "not always possible for international parcels."),
        ]),
        ("Receiving your parcel", [
            ("p", "Please check the outer packaging in front of the courier. If the box is crushed, wet or "
                  "something is missing, refuse the parcel or ask the courier to note it, and contact us within "
                  "24 hours. Damage in transit is always our responsibility: we send a replacement or refund you "
                  "in full, including shipping."),
            ("p", "If a parcel shows as delivered but you have not received it, contact us within 48 hours and we "
                  "will open an investigation with the courier."),
        ]),
    ],
    "updated": "Last updated: 15 January 2026.",
}

SHIPPING_ZH = {
    "lang": "zh",
    "title": "配送说明",
    "intro": [
        "诺瓦科技商城设有两个仓库：中国大陆订单由上海嘉定仓发货，国际订单由深圳仓发货。本页介绍合作快递、运费、发货时间和配送时效。",
    ],
    "sections": [
        ("合作快递", [
            ("p", "中国大陆订单默认使用顺丰速运配送，下单时也可选择京东物流，运费和时效相同。国际订单使用DHL eCommerce（标准配送）或DHL Express（特快配送）。"),
        ]),
        ("运费标准", [
            ("ul", [
                "中国大陆：订单实付金额满99元包邮，不满99元收取10元运费；",
                "金卡、铂金卡会员：中国大陆订单全场包邮，不限金额；",
                "国际标准配送：满35美元免运费，不满35美元收取6.99美元；",
                "国际特快配送：每单固定19.99美元，不论订单金额。",
            ]),
        ]),
        ("发货时间", [
            ("p", "每天北京时间16:00前付款的订单当天发货，16:00后付款的次日发货。618、双11等大促期间最长48小时内发货。包裹出库后会通过短信或邮件发送快递单号，也可在“我的订单”中查看物流。"),
        ]),
        ("配送时效", [
            ("table", ["目的地", "快递", "时效"], [
                ["江浙沪、珠三角", "顺丰 / 京东物流", "1-2天"],
                ["其他省会及主要城市", "顺丰 / 京东物流", "2-3天"],
                ["偏远地区（新疆、西藏、青海、内蒙古部分地区）", "顺丰 / 京东物流", "4-7天"],
                ["国际标准配送", "DHL eCommerce", "7-15个工作日"],
                ["国际特快配送", "DHL Express", "3-6个工作日"],
            ]),
        ]),
        ("国际配送", [
            ("p", "国际站可配送至30多个国家和地区，包括港澳台、美国、加拿大、英国、欧盟、澳大利亚、日本、韩国和新加坡，以美元结算，不支持配送至邮政信箱。"),
            ("ul", [
                "进口关税及税费由收件人在签收时支付；",
                "英国和欧盟订单在£135 / €150以内的，增值税在结账时已代收，签收时无需另付；",
                "受锂电池航空运输规定限制，PowerCube 20000移动电源仅支持国际标准配送。",
            ]),
        ]),
        ("修改收货地址", [
            ("p", "订单发货前可在“我的订单”中修改收货地址；已发货的请联系客服，我们会尽量联系快递改派，国际包裹不一定能改派。"),
        ]),
        ("签收须知", [
            ("p", "请当着快递员的面检查外包装，如有挤压、受潮或少件，可拒收或请快递员备注，并在24小时内联系客服。运输途中造成的损坏由我们负责，可补发新品或全额退款（含运费）。"),
            ("p", "如物流显示已签收但您没有收到包裹，请在48小时内联系客服，我们会与快递公司核实处理。"),
        ]),
    ],
    "updated": "最后更新：2026年1月15日",
}

DOCS = ("html", SHIPPING_EN, SHIPPING_ZH)
