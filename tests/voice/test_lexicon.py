"""Homophones of a tenant's own words put right in what the recogniser heard (``kefu.voice.lexicon``)."""
from __future__ import annotations

import pytest

from kefu.config import Config
from kefu.store.base import Chunk, Document
from tests import helpers

pytest.importorskip("pypinyin")

KB = [
    "注销账户后数据在30天内删除，注销申请提交后7个工作日内完成。",
    "仓库收到退货后两个工作日内完成质检，质检通过后退款。",
    "企业客户可以申请增值税专用发票。快递一般两天送达。",
    "手表摔坏屏幕不在保修范围。请留下您的手机号码，建议您先备份数据。",
    "如需回去修改订单，请联系人工客服；邮箱登录失败请重置密码。",
    "请提供号码，订单已经发货，实在抱歉。",
    "签收后七天内可以退货，一般两天送达。",
]

# Whisper's mishearings in the voice benchmark's calls (said → heard), and the text they should become.
MISHEARD = [
    ("住销账户要多长时间", "注销账户要多长时间"),
    ("仓库收到退货后几天至减完。", "仓库收到退货后几天质检完。"),
    ("公司要增直税专票多久能开出来", "公司要增值税专票多久能开出来"),
    ("首表衰烈了屏幕能免费修吗?", "手表衰烈了屏幕能免费修吗?"),
]

# Messages from other domains that sound partly like the words above: none may change.
UNCHANGED = [
    "广州明天天气好吗",  # 好吗 sounds like 号码: function characters are never replaced
    "餐馆的地址是在哪啊？",
    "需要你帮我推荐一下电影",  # 荐一 sounds like 建议 but straddles two words
    "吃饭晚了会去住宿。",  # 会去 / 回去: 回去 is too common to be misheard
    "亲子游想找一个能玩3小时的景点",  # 游想 / 邮箱
    "北京古韵坊怡景酒店比较适合我",  # 怡景 / 已经: too common
    "注销账户要多长时间",  # already right
    "我叫朱晓，想问一下",  # a name (zhu xiao, as 注销)
    "我叫齐天",  # a name (qi tian, as 七天: a word with a numeral is never a replacement)
    "我姓梁，梁天",
    "How do I cancel my account?",
    "",
    "😀😀",
    "'; DROP TABLE chunks; -- 住销",
]


@pytest.fixture(scope="module")
def lexicon():
    from kefu.voice.lexicon import Lexicon

    return Lexicon.from_texts(KB)


@pytest.mark.parametrize(("heard", "said"), MISHEARD)
def test_homophones_of_the_knowledge_bases_words_are_put_right(lexicon, heard, said):
    assert lexicon.correct(heard) == said


@pytest.mark.parametrize("text", UNCHANGED)
def test_other_text_is_left_as_it_is(lexicon, text):
    expected = text.replace("住销", "注销") if "DROP" in text else text
    assert lexicon.correct(text) == expected


def test_an_empty_knowledge_base_changes_nothing():
    from kefu.voice.lexicon import Lexicon

    empty = Lexicon.from_texts(["", "only English here", None])
    assert len(empty) == 0 and empty.correct("住销账户") == "住销账户"


def test_each_tenant_has_its_own_words_and_new_knowledge_is_learnt(store, tmp_path):
    """Tenant ``acme``'s words never change what ``globex``'s caller said; a caller never waits for a lexicon
    (the first is made in the background); a word ingested later is used once the sources changed;
    ``voice_lexicon = false`` turns it off; the transcript keeps what was heard."""
    from kefu.voice.base import Transcript
    from kefu.voice.turn import VoiceRuntime

    def faq(tenant, uri, answer):
        store.replace_document(Document(tenant, "faq", uri, "FAQ", "faq", answer), [
            Chunk(answer, kind="faq", question="问题", answer=answer, lang="zh")])

    faq("acme", "a.csv", KB[0])
    config = Config.load(home=tmp_path, env={}, overrides={})
    rt = VoiceRuntime(config)

    class Chat:  # what understood reads of a ChatService
        engine = type("Engine", (), {"store": store})

    def heard(tenant, text, runtime=rt):
        return runtime.understood(Chat, tenant, Transcript(text, "zh"))

    heard("acme", "住销账户要多长时间")  # the first turn starts making the lexicon, in the background
    assert helpers.wait_for(lambda: heard("acme", "住销账户").text == "注销账户")
    t = heard("acme", "住销账户要多长时间")
    assert t.text == "注销账户要多长时间" and t.to_dict()["heard"] == "住销账户要多长时间"
    assert "heard" not in heard("acme", "注销账户要多长时间").to_dict()
    assert rt.lexicon(store, "globex", wait=True) is not None
    assert heard("globex", "住销账户要多长时间").text == "住销账户要多长时间"  # not globex's word
    faq("acme", "b.csv", KB[1])
    assert heard("acme", "几天至减完").text == "几天至减完"  # looked at again after voice_answers_check_s
    rt.lexicon(store, "acme", wait=True)  # as the server's knowledge checks do
    assert heard("acme", "几天至减完").text == "几天质检完"
    off = VoiceRuntime(Config.load(home=tmp_path, env={}, overrides={"voice_lexicon": False}))
    assert off.lexicon(store, "acme", wait=True) is None and heard("acme", "住销账户", runtime=off).text == "住销账户"


def test_hotwords_are_the_knowledge_bases_distinctive_words():
    """What whisper is told to expect: words used at least 3 times, rare in general Chinese; never a common
    word, a number or a function word, however often the knowledge base says it."""
    from kefu.voice.lexicon import Lexicon

    texts = ["仓库质检通过后退款，质检一般两天。", "质检不合格的退货会寄回。", "订单已经发货，已经出库。",
             "签收后七天内可以退货，七天内有效，七天无理由。", "寄回地址见订单详情，寄回运费由我们承担。"]
    hot = Lexicon.from_texts(texts).hotwords()
    assert hot[:2] == ["质检", "寄回"] or set(hot[:2]) == {"质检", "寄回"}
    assert not {"已经", "七天", "两天"} & set(hot)
    assert Lexicon.from_texts(texts).hotwords(1) == hot[:1] and Lexicon.from_texts([]).hotwords() == []


def test_a_tenants_calls_expect_its_own_words(store, tmp_path):
    from kefu.voice.asr import ZH_HOTWORDS
    from kefu.voice.turn import VoiceRuntime

    store.replace_document(Document("acme", "faq", "a.csv", "FAQ", "faq", "h"), [
        Chunk(t, kind="faq", question="问题", answer=t, lang="zh") for t in
        ("仓库质检通过后退款。", "质检一般两天。", "质检不合格会寄回。")])

    class Chat:
        engine = type("Engine", (), {"store": store})

    rt = VoiceRuntime(Config.load(home=tmp_path, env={}, overrides={}))
    rt.lexicon(store, "acme", wait=True)
    rt.lexicon(store, "globex", wait=True)
    words = rt.hotwords(Chat, "acme").split()
    assert words[:len(ZH_HOTWORDS.split())] == ZH_HOTWORDS.split() and "质检" in words
    assert "质检" not in rt.hotwords(Chat, "globex").split()  # another tenant's words stay its own
    assert rt.hotwords(object(), "acme") is None  # no store: the recogniser's own
    off = VoiceRuntime(Config.load(home=tmp_path, env={}, overrides={"voice_hotwords": 0}))
    assert off.hotwords(Chat, "acme") is None
