# ruff: noqa: E501  (long prose strings of data)
"""English FAQ entries: (question, answer, category, tags)."""

FAQ_EN = [
    ("How many days do I have to return an item?",
     "In mainland China you can return most items within 7 days of delivery without giving a reason. "
     "Orders from our international store can be returned within 30 days of delivery.",
     "returns", "returns;return window;7 days;30 days"),
    ("What condition must a returned item be in?",
     "The item must be complete with all accessories, gifts, manuals and the original packaging, and free of "
     "damage or signs of heavy use. Opened in-ear earbuds (Nova Buds Lite, Nova Buds Pro) cannot be returned "
     "without a reason for hygiene reasons, but quality problems are always accepted.",
     "returns", "returns;condition;earbuds"),
    ("How long does it take to get my refund?",
     "We inspect returns within 2 business days of receiving them, then refund to the original payment "
     "method. Alipay and WeChat Pay refunds arrive in 1-3 business days, UnionPay and bank cards in 3-7, "
     "PayPal in 3-5 and international Visa/Mastercard in 5-10 business days.",
     "returns", "refund;refund time;payment method"),
    ("Who pays the return shipping?",
     "If the item is faulty, damaged in transit or not what you ordered, we pay and arrange a free pickup. "
     "For change-of-mind returns the customer pays return shipping, except Platinum members, whose "
     "change-of-mind returns are free. International customers can use our prepaid label for $7.99, "
     "deducted from the refund.",
     "returns", "return shipping;fees;platinum"),
    ("Can I exchange a faulty product?",
     "Yes. In mainland China a product with a quality problem can be returned within 7 days or exchanged "
     "for a new one within 15 days of delivery; after that it is repaired under warranty.",
     "returns", "exchange;faulty;15 days"),
    ("How do I start a return?",
     "Go to My Orders, choose the order and tap Apply for Return. We review requests within 24 hours; once "
     "approved, please send the item back within 7 days.",
     "returns", "returns;how to;my orders"),
    ("Is shipping free?",
     "Orders of ¥99 or more ship free in mainland China; smaller orders pay a flat ¥10. International "
     "orders of $35 or more ship free by Standard shipping; below that Standard costs $6.99.",
     "shipping", "shipping fee;free shipping;99;35"),
    ("Which courier do you use?",
     "In mainland China we ship with SF Express by default, and you can choose JD Logistics at checkout. "
     "International orders go by DHL eCommerce (Standard) or DHL Express (Express).",
     "shipping", "courier;SF Express;JD Logistics;DHL"),
    ("How long does delivery take in China?",
     "Orders paid before 16:00 Beijing time ship the same day. Delivery takes 1-2 days in Jiangsu, Zhejiang, "
     "Shanghai and the Pearl River Delta, 2-3 days to other major cities and 4-7 days to remote areas such "
     "as Xinjiang and Tibet.",
     "shipping", "delivery time;mainland;cutoff"),
    ("How long does international shipping take?",
     "Standard shipping takes 7-15 business days and is free on orders of $35 or more ($6.99 otherwise). "
     "Express takes 3-6 business days for a flat $19.99.",
     "shipping", "international;delivery time;express"),
    ("Will I have to pay customs duties?",
     "Import duties and taxes are paid by the customer on delivery, except for UK and EU orders where VAT "
     "is collected at checkout for parcels up to £135 / €150.",
     "shipping", "customs;duties;VAT;international"),
    ("Can I change my delivery address after ordering?",
     "Yes, until the order ships you can edit the address in My Orders. After it has shipped, contact "
     "customer service and we will ask the courier to redirect it where possible.",
     "shipping", "address;change;order"),
    ("How long is the warranty?",
     "All products have a 12-month warranty from the delivery date; Pro models (Nova X1 Pro and Nova Buds "
     "Pro) have 24 months.",
     "warranty", "warranty;12 months;24 months;pro"),
    ("What does the warranty not cover?",
     "It does not cover accidental damage such as drops or cracked screens, liquid damage beyond the "
     "product's rating, unauthorised repairs, normal cosmetic wear, or consumables such as ear tips and "
     "ear cushions.",
     "warranty", "warranty;exclusions;accidental damage"),
    ("How do I get a product repaired?",
     "Open My Orders, choose After-sales and then Repair. In mainland China SF Express picks the item up "
     "for free; repairs take 5-7 business days after it reaches our service centre.",
     "warranty", "repair;process;after-sales"),
    ("What is Nova Care+?",
     "Nova Care+ extends the warranty by 12 months and adds one accidental-damage repair. It costs "
     "¥149/$22 for headphones, earbuds, watches and speakers and ¥399/$59 for the Nova Pad 11 and Nova "
     "Book 14, and must be bought within 30 days of your purchase.",
     "warranty", "nova care+;extended warranty;accidental damage"),
    ("Which payment methods do you accept?",
     "In mainland China: Alipay, WeChat Pay and UnionPay cards. In the international store: Visa, "
     "Mastercard and PayPal. Cash on delivery is not available.",
     "payment", "payment methods;alipay;wechat pay;paypal"),
    ("Can I pay in installments?",
     "Yes. Huabei and credit-card installments of 3, 6 or 12 months are available in mainland China; 3 and "
     "6 months are interest-free on orders of ¥1,000 or more, and the 12-month plan has a 0.5% fee per "
     "installment. US customers can use PayPal Pay in 4 for orders between $30 and $1,500.",
     "payment", "installments;huabei;pay in 4"),
    ("How do I get an invoice?",
     "Mainland orders get an electronic VAT invoice (fapiao) automatically; companies can request a VAT "
     "special invoice, issued within 3 business days. You can request or change an invoice in My Orders "
     "for up to 90 days after delivery. International orders receive a PDF receipt by email.",
     "payment", "invoice;fapiao;receipt"),
    ("What happens if I don't pay for my order right away?",
     "Unpaid orders are held for 30 minutes and then cancelled automatically, and any coupon used is "
     "returned to your account.",
     "payment", "unpaid;order cancelled;30 minutes"),
    ("How do the membership tiers work?",
     "Nova Club is free. Everyone starts as Silver; spending ¥2,000 ($300) in 12 months makes you Gold and "
     "¥8,000 ($1,200) makes you Platinum.",
     "membership", "membership;tiers;silver;gold;platinum"),
    ("How many points do I earn and what are they worth?",
     "You earn 1 point per ¥1 (5 points per $1), multiplied by 1.5 for Gold and 2 for Platinum. 100 points "
     "are worth ¥1, and points can pay for up to 20% of an order.",
     "membership", "points;earn;redeem"),
    ("When do my points expire?",
     "Points expire on 31 December of the year after the year you earned them.",
     "membership", "points;expiry"),
    ("How do I delete my account?",
     "Go to Settings > Account & Security > Delete Account. Deletion is completed within 15 working days, "
     "once you have no unfinished orders or pending refunds.",
     "privacy", "account;delete;privacy"),
    ("Do you store my card number?",
     "No. Card details are entered on the payment provider's secure page (3-D Secure) and NovaTech Store "
     "never stores full card numbers.",
     "privacy", "card;security;privacy"),
    ("I forgot my password, what should I do?",
     "Tap Forgot password on the login page and reset it with an SMS code or an email link; the link is "
     "valid for 30 minutes.",
     "account", "password;reset;login"),
    ("When is customer service available?",
     "Online chat is staffed from 9:00 to 22:00 Beijing time every day. Messages left outside these hours "
     "are answered within 12 hours.",
     "service", "customer service;hours"),
    ("Does the X1 Pro support connecting to two devices?",
     "Yes, the Nova X1 Pro supports multipoint pairing with 2 devices at the same time, plus LDAC hi-res "
     "audio and up to 40 hours of battery with noise cancelling on.",
     "products", "x1 pro;multipoint;bluetooth"),
    ("Can I take the PowerCube 20000 on a plane?",
     "Yes. At 74 Wh it is under the 100 Wh limit for carry-on luggage. Power banks may not go in checked "
     "baggage.",
     "products", "powercube;flight;battery"),
    ("Is the Nova Watch S2 waterproof?",
     "The Nova Watch S2 is rated 5 ATM, so you can wear it swimming in a pool, but not for diving or in "
     "hot saunas.",
     "products", "watch s2;waterproof;5 atm"),
    ("Do you offer price protection?",
     "Yes. If the price of an item you bought drops on our store within 7 days of payment, request the "
     "difference in My Orders > Price Protection and it is refunded to your original payment method.",
     "payment", "price protection;price drop"),
]
