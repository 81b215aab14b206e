"""A deterministic fake generator for prompt-logic tests (the real ones are tested against llama.cpp)."""
from __future__ import annotations

from collections.abc import Callable, Iterator

from kefu.llm.base import Generation, GeneratorError, Messages


class FakeGenerator:
    """Replies with ``reply(messages)``; an exception instance as reply is raised. Records every call."""

    def __init__(self, reply: str | Callable[[Messages], str] | Exception, name: str = "fake") -> None:
        self.reply = reply
        self.name = name
        self.calls: list[Messages] = []

    def _text(self, messages: Messages) -> str:
        self.calls.append(messages)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply(messages) if callable(self.reply) else self.reply

    def generate(self, messages: Messages, *, max_tokens: int = 400, temperature: float = 0.2) -> Generation:
        text = self._text(messages)
        return Generation(text, "fake-model", prompt_tokens=sum(len(m["content"]) for m in messages) // 4,
                          completion_tokens=len(text) // 4, ms=1.0)

    def stream(self, messages: Messages, *, max_tokens: int = 400, temperature: float = 0.2) -> Iterator[str]:
        text = self._text(messages)
        yield from (text[i:i + 8] for i in range(0, len(text), 8))


def down(name: str = "down") -> FakeGenerator:
    return FakeGenerator(GeneratorError("connection refused by http://127.0.0.1:9/v1"), name)


class PrefersLonger(FakeGenerator):
    """A judge that always prefers the longer reply (to test the two-order protocol); answers nothing else."""

    def __init__(self) -> None:
        super().__init__(self._verdict, name="prefers-longer")

    @staticmethod
    def _verdict(messages: Messages) -> str:
        text = messages[-1]["content"]
        if "Reply A:" not in text:
            return "NO_ANSWER"
        a = text.split('Reply A: "', 1)[1].split('"\n\nReply B:', 1)[0]
        b = text.split('Reply B: "', 1)[1].rsplit('"\n\n', 1)[0]
        return "A" if len(a) > len(b) else "B" if len(b) > len(a) else "TIE"
