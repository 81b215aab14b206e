"""Render one structured policy document to Markdown, HTML, PDF, DOCX or plain text.

A document is a dict: {"lang", "title", "intro": [str], "sections": [(heading, [block])],
"updated": str}. A block is ("p", text), ("ul", [item]) or ("table", header, rows).
"""

import datetime as dt
import html
import io
import zipfile
from pathlib import Path

from .world import COMPANY_EN, COMPANY_ZH, YEAR

FIXED_TIME = dt.datetime(2026, 1, 15, 9, 0, 0, tzinfo=dt.UTC)
FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
]


# --- Markdown ---------------------------------------------------------------------
def to_markdown(doc) -> str:
    out = [f"# {doc['title']}", ""]
    for p in doc["intro"]:
        out += [p, ""]
    for heading, blocks in doc["sections"]:
        out += [f"## {heading}", ""]
        for b in blocks:
            if b[0] == "p":
                out += [b[1], ""]
            elif b[0] == "ul":
                out += [f"- {item}" for item in b[1]] + [""]
            elif b[0] == "table":
                header, rows = b[1], b[2]
                out.append("| " + " | ".join(header) + " |")
                out.append("|" + "|".join("---" for _ in header) + "|")
                out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
                out.append("")
    out.append(f"_{doc['updated']}_")
    return "\n".join(out) + "\n"


# --- HTML (with the usual website boilerplate around <main>) ------------------------
def to_html(doc) -> str:
    zh = doc["lang"] == "zh"
    e = html.escape
    company = COMPANY_ZH if zh else COMPANY_EN
    nav = (["首页", "全部商品", "会员中心", "帮助中心", "我的订单"] if zh
           else ["Home", "Shop all", "Nova Club", "Help Center", "My Orders"])
    cookie = ("本网站使用Cookie来改善您的浏览体验。继续浏览即表示您同意我们使用Cookie。" if zh
              else "We use cookies to improve your browsing experience. "
                   "By continuing you agree to our use of cookies.")
    accept = "接受" if zh else "Accept"
    rights = "版权所有" if zh else "All rights reserved."
    search = "搜索商品" if zh else "Search products"
    links = (["关于我们", "隐私政策", "用户协议", "联系我们"] if zh
             else ["About us", "Privacy", "Terms of use", "Contact us"])
    body = [f"<h1>{e(doc['title'])}</h1>"]
    body += [f"<p>{e(p)}</p>" for p in doc["intro"]]
    for heading, blocks in doc["sections"]:
        body.append(f"<section>\n<h2>{e(heading)}</h2>")
        for b in blocks:
            if b[0] == "p":
                body.append(f"<p>{e(b[1])}</p>")
            elif b[0] == "ul":
                body.append("<ul>\n" + "\n".join(f"  <li>{e(i)}</li>" for i in b[1]) + "\n</ul>")
            elif b[0] == "table":
                head = "".join(f"<th>{e(h)}</th>" for h in b[1])
                rows = "\n".join("    <tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>"
                                 for r in b[2])
                body.append(f"<table>\n  <thead><tr>{head}</tr></thead>\n"
                            f"  <tbody>\n{rows}\n  </tbody>\n</table>")
        body.append("</section>")
    body.append(f"<p class=\"updated\">{e(doc['updated'])}</p>")
    nav_urls = ["/", "/shop", "/club", "/help", "/orders"]
    foot_urls = ["/about", "/help/privacy", "/terms", "/contact"]
    nav_html = "\n".join(f'    <li><a href="{u}">{e(n)}</a></li>' for u, n in zip(nav_urls, nav))
    foot_html = " | ".join(f'<a href="{u}">{e(n)}</a>' for u, n in zip(foot_urls, links))
    return f"""<!DOCTYPE html>
<html lang="{'zh-CN' if zh else 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(doc['title'])} - {e(company)}</title>
<link rel="stylesheet" href="/static/site.css">
</head>
<body>
<header class="site-header">
  <a class="logo" href="/">{e(company)}</a>
  <form class="search" action="/search"><input name="q" placeholder="{search}"></form>
</header>
<nav class="main-menu">
  <ul>
{nav_html}
  </ul>
</nav>
<div id="cookie-banner" class="cookie-banner">
  <p>{e(cookie)}</p>
  <button onclick="acceptCookies()">{accept}</button>
</div>
<main>
{chr(10).join(body)}
</main>
<footer class="site-footer">
  <p>{foot_html}</p>
  <p>&copy; {YEAR} {e(company)} {rights}</p>
</footer>
<script>
  function acceptCookies() {{
    document.cookie = "cookie_consent=1; max-age=31536000; path=/";
    document.getElementById("cookie-banner").style.display = "none";
  }}
  window.dataLayer = window.dataLayer || [];
  window.dataLayer.push({{"page": "help/shipping", "lang": "{doc['lang']}"}});
</script>
</body>
</html>
"""


# --- PDF (fpdf2) ------------------------------------------------------------------
def _font_path() -> str:
    for p in FONT_CANDIDATES:
        if Path(p).exists():
            return p
    raise SystemExit("WenQuanYi Micro Hei not found: apt-get install -y fonts-wqy-microhei")


def write_pdf(doc, path: Path) -> None:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_TIME)
    pdf.set_title(doc["title"])
    pdf.set_author(COMPANY_ZH if doc["lang"] == "zh" else COMPANY_EN)
    pdf.set_creator("kefu demo KB generator")
    pdf.set_producer("fpdf2")
    pdf.add_font("wqy", "", _font_path())
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    w = pdf.epw

    pdf.set_font("wqy", size=18)
    pdf.multi_cell(w, 10, doc["title"], new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(2)
    pdf.set_font("wqy", size=10.5)
    for p in doc["intro"]:
        pdf.multi_cell(w, 6, p, new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.ln(2)
    for heading, blocks in doc["sections"]:
        pdf.ln(2)
        pdf.set_font("wqy", size=14)
        pdf.multi_cell(w, 8, heading, new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.set_font("wqy", size=10.5)
        for b in blocks:
            if b[0] == "p":
                pdf.multi_cell(w, 6, b[1], new_x="LMARGIN", new_y="NEXT", align="L")
                pdf.ln(1.5)
            elif b[0] == "ul":
                for item in b[1]:
                    pdf.set_x(pdf.l_margin + 4)
                    pdf.multi_cell(w - 4, 6, "• " + item, new_x="LMARGIN", new_y="NEXT", align="L")
                pdf.ln(1.5)
            elif b[0] == "table":
                with pdf.table(headings_style=FontFace(fill_color=(225, 230, 240)),
                               line_height=6, text_align="LEFT") as table:
                    for r in [b[1]] + [list(map(str, r)) for r in b[2]]:
                        row = table.row()
                        for c in r:
                            row.cell(c)
                pdf.ln(3)
    pdf.ln(4)
    pdf.set_font("wqy", size=9)
    pdf.multi_cell(w, 5, doc["updated"], new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.output(str(path))


# --- DOCX (python-docx) -----------------------------------------------------------
def write_docx(doc, path: Path) -> None:
    import docx
    from docx.oxml.ns import qn

    d = docx.Document()
    cp = d.core_properties
    cp.title = doc["title"]
    cp.author = COMPANY_ZH if doc["lang"] == "zh" else COMPANY_EN
    cp.last_modified_by = cp.author
    cp.created = FIXED_TIME.replace(tzinfo=None)
    cp.modified = FIXED_TIME.replace(tzinfo=None)
    cp.revision = 1
    if doc["lang"] == "zh":  # an East-Asian font for the Chinese runs
        rpr = d.styles["Normal"].element.get_or_add_rPr()
        rpr.get_or_add_rFonts().set(qn("w:eastAsia"), "Microsoft YaHei")
    d.add_heading(doc["title"], level=1)
    for p in doc["intro"]:
        d.add_paragraph(p)
    for heading, blocks in doc["sections"]:
        d.add_heading(heading, level=2)
        for b in blocks:
            if b[0] == "p":
                d.add_paragraph(b[1])
            elif b[0] == "ul":
                for item in b[1]:
                    d.add_paragraph(item, style="List Bullet")
            elif b[0] == "table":
                t = d.add_table(rows=1, cols=len(b[1]))
                t.style = "Table Grid"
                for cell, text in zip(t.rows[0].cells, b[1]):
                    cell.text = text
                    for run in cell.paragraphs[0].runs:
                        run.bold = True
                for r in b[2]:
                    cells = t.add_row().cells
                    for cell, text in zip(cells, r):
                        cell.text = str(text)
                d.add_paragraph()
    d.add_paragraph(doc["updated"]).runs[0].italic = True
    buf = io.BytesIO()
    d.save(buf)
    _rezip_fixed_time(buf.getvalue(), path)


def _rezip_fixed_time(data: bytes, path: Path) -> None:
    """python-docx stamps zip entries with the current time; pin them for reproducibility."""
    src = zipfile.ZipFile(io.BytesIO(data))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=(2026, 1, 15, 9, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            out.writestr(zi, src.read(info.filename))


# --- plain text -------------------------------------------------------------------
def to_text(doc) -> str:
    zh = doc["lang"] == "zh"
    paras = [doc["title"]] + list(doc["intro"])
    for heading, blocks in doc["sections"]:
        paras.append(heading)
        for b in blocks:
            if b[0] == "p":
                paras.append(b[1])
            elif b[0] == "ul":
                paras.append("\n".join(f"- {i}" for i in b[1]))
            elif b[0] == "table":
                sep = "：" if zh else ": "
                paras.append("\n".join(f"{r[0]}{sep}" + ("；" if zh else "; ").join(str(c) for c in r[1:])
                                       for r in b[2]))
    paras.append(doc["updated"])
    return "\n\n".join(paras) + "\n"
