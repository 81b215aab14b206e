"""A serving chat service picks up a newly trained intent model and new catalogue products without a restart."""
from __future__ import annotations

import time

import pytest

from kefu.config import Config
from kefu.engine import Engine
from tests.helpers import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def engine(tmp_path, embedder):
    eng = Engine(Config.load(home=tmp_path / "home", env={}, overrides={"nlu_reload_check_s": 0.05}))
    eng.__dict__["embedder"] = embedder
    yield eng
    eng.close()


def train(engine, tenant, rows):
    from kefu.nlp.intent import EnsembleIntentModel, TrainingData, intent_dir, save_versioned

    data = TrainingData([t for t, _ in rows], [lab for _, lab in rows], "test")
    model = EnsembleIntentModel.fit(data, engine.embedder, view=None)
    return save_versioned(model, intent_dir(engine.config.home, tenant))


ROWS = [(t, "refund") for t in ("I want a refund", "refund my order", "give me my money back", "退款", "我要退款",
                                "申请退款", "how do I get a refund", "money back please")] + \
       [(t, "shipping") for t in ("where is my parcel", "when will it ship", "delivery time", "发货", "快递到哪了",
                                  "什么时候发货", "track my package", "shipping status")]


def test_a_new_model_and_new_products_are_used_without_a_restart(engine, tmp_path, caplog, monkeypatch):
    service = engine.service
    first = service.nlu("acme")
    assert first.intent is None
    assert not [e for e in first.analyze("Is the Zeta Phone 9 in stock?").entities if e.type == "PRODUCT"]
    for _ in range(10):  # checked every 0.05 s: nothing changed, the same NLU
        time.sleep(0.05)
        assert service.nlu("acme") is first

    train(engine, "acme", ROWS)
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text("sku,name,name_zh,price\nZP9,Zeta Phone 9,泽塔手机9,999\n", encoding="utf-8")
    engine.ingestor.ingest([catalogue], tenant="acme")
    assert wait_for(lambda: service.nlu("acme") is not first)  # reloaded in the background
    fresh = service.nlu("acme")
    result = fresh.analyze("Is the Zeta Phone 9 in stock? I want a refund")
    assert result.intent is not None and result.intent.label == "refund"
    assert [e.text for e in result.entities if e.type == "PRODUCT"] == ["Zeta Phone 9"]
    assert service.nlu("globex").intent is None  # another tenant's model is not acme's

    # A broken model file: the reload fails, is logged, and the working NLU goes on serving.
    from kefu.nlp.intent import intent_dir

    root = intent_dir(engine.config.home, "acme")
    (root / "v0009").mkdir()
    (root / "v0009" / "card.json").write_text("{not json", encoding="utf-8")
    with caplog.at_level("WARNING", logger="kefu.dialog"):
        (root / "CURRENT").write_text("v0009\n", encoding="utf-8")
        assert wait_for(lambda: service.nlu("acme") is not None and "reloading the NLU failed" in caplog.text)
        for _ in range(10):  # later checks see the same broken version: tried and warned of once
            time.sleep(0.06)
            assert service.nlu("acme") is fresh
        assert caplog.text.count("reloading the NLU failed") == 1
    assert service.nlu("acme") is fresh and fresh.analyze("refund please").intent.label == "refund"
    from kefu.dialog import tenant_nlu

    monkeypatch.setattr(tenant_nlu, "RETRY_FAILED_S", 0.2)  # a failure that may pass (memory) is retried later
    with caplog.at_level("WARNING", logger="kefu.dialog"):
        assert wait_for(lambda: service.nlu("acme") is not None and caplog.text.count("reloading the NLU failed") >= 2)
    (root / "CURRENT").write_text("v0001\n", encoding="utf-8")  # put right: loaded again
    assert wait_for(lambda: service.nlu("acme") is not fresh)


def test_with_checks_off_the_nlu_is_loaded_once(tmp_path, embedder):
    eng = Engine(Config.load(home=tmp_path / "home", env={}, overrides={"nlu_reload_check_s": 0}))
    eng.__dict__["embedder"] = embedder
    try:
        first = eng.service.nlu("acme")
        train(eng, "acme", ROWS)
        time.sleep(0.2)
        assert eng.service.nlu("acme") is first and first.intent is None
    finally:
        eng.close()


def test_one_tenants_first_load_does_not_hold_up_another_tenant(engine):
    """A tenant's NLU loading (its intent model, the embedder warming up) keeps only its own messages waiting."""
    import threading

    from kefu.dialog.tenant_nlu import TenantNLUs

    entered, release, made = threading.Event(), threading.Event(), []

    def factory(tenant):
        if tenant == "slow":
            entered.set()
            assert release.wait(30)
        made.append(tenant)
        return object()

    nlus = TenantNLUs(engine, factory)
    slow = [threading.Thread(target=nlus.get, args=("slow",)) for _ in range(2)]
    for t in slow:
        t.start()
    assert entered.wait(10)
    done = threading.Thread(target=nlus.get, args=("fast",))
    done.start()
    done.join(10)
    assert not done.is_alive() and made == ["fast"]  # while "slow" is still loading
    release.set()
    for t in slow:
        t.join(10)
    assert made == ["fast", "slow"]  # loaded once for its two waiting messages
    assert nlus.get("slow") is nlus.get("slow")
