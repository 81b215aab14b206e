"""The OpenAI-compatible endpoint, driven by the official ``openai`` package as the client."""
from __future__ import annotations

import openai
import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def oa(client: TestClient, acme) -> openai.OpenAI:
    # TestClient is an httpx.Client that calls the app in-process.
    return openai.OpenAI(api_key=acme.widget, base_url="http://testserver/v1", http_client=client, max_retries=0)


def test_completion_with_sources(oa):
    r = oa.chat.completions.create(model="kefu", messages=[{"role": "user", "content": "How do I return an item?"}])
    text = r.choices[0].message.content
    assert "30 days" in text and "Sources:" in text and "kb/faq.csv" in text
    assert r.choices[0].finish_reason == "stop" and r.model == "kefu"
    extra = r.model_extra["kefu"]
    assert extra["mode"] == "faq" and extra["citations"][0]["uri"] == "kb/faq.csv"


def test_streaming_completion_in_chinese(oa):
    stream = oa.chat.completions.create(model="kefu", stream=True,
                                        messages=[{"role": "user", "content": "配送需要几天？"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "1-2天" in text and "来源" in text
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_history_resolves_follow_ups(oa):
    r = oa.chat.completions.create(model="kefu", messages=[
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "How long does shipping take?"},
        {"role": "assistant", "content": "Standard shipping takes 7-15 business days."},
        {"role": "user", "content": "and express?"}])
    assert "3-6" in r.choices[0].message.content


def test_content_parts_and_abstention(oa):
    r = oa.chat.completions.create(model="kefu", messages=[
        {"role": "user", "content": [{"type": "text", "text": "What is the boiling point of tungsten?"}]}])
    assert r.model_extra["kefu"]["mode"] == "abstain" and "Sources" not in r.choices[0].message.content


def test_models_list(oa):
    assert [m.id for m in oa.models.list()] == ["kefu"]


@pytest.mark.parametrize("messages,needle", [
    ([], "messages"),
    ([{"role": "assistant", "content": "hi"}], "user message"),
    ([{"role": "user", "content": ""}], "user message"),
    ([{"role": "wizard", "content": "hi"}], "role"),
])
def test_bad_requests_are_clear_errors(oa, messages, needle):
    with pytest.raises(openai.APIStatusError) as exc:
        oa.chat.completions.create(model="kefu", messages=messages)
    assert exc.value.status_code in (400, 422) and needle in exc.value.response.json()["error"]["message"]


def test_wrong_key_is_401(client):
    bad = openai.OpenAI(api_key="sk-wrong", base_url="http://testserver/v1", http_client=client, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="kefu", messages=[{"role": "user", "content": "hi"}])
