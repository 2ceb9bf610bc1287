"""Drives an OpenLoRA server with the real `openai` package, unchanged, as a user would.

Usage: python openai_client.py BASE_URL ADAPTER_ID BASE_MODEL
Prints one JSON line with what it saw; exits non-zero (with a traceback) when a check fails.
"""
import json
import sys

import openai

base_url, adapter, base_model = sys.argv[1:4]
client = openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=60)
seen = {"openai_version": openai.__version__}

# Models: the adapter by its id, and the base model (no payment).
ids = [m.id for m in client.models.list()]
assert adapter in ids and base_model in ids, ids
seen["models"] = len(ids)

# Completions, whole.
# `ignore_eos` is the vLLM-style extension the server accepts: exactly max_tokens tokens.
exact = {"ignore_eos": True}
c = client.completions.create(model=adapter, prompt="The sequencer", max_tokens=8, temperature=0,
                              extra_body=exact)
assert c.object == "text_completion" and len(c.choices) == 1, c
assert c.usage.completion_tokens == 8 and c.usage.prompt_tokens > 0, c.usage
assert c.usage.total_tokens == c.usage.prompt_tokens + 8
assert c.choices[0].finish_reason == "length"
whole = c.choices[0].text

# Completions, streamed: the same greedy text, the usage on the last chunk.
chunks = list(client.completions.create(
    model=adapter, prompt="The sequencer", max_tokens=8, temperature=0, stream=True,
    extra_body=exact))
streamed = "".join(ch.choices[0].text for ch in chunks if ch.choices)
assert streamed == whole, (streamed, whole)
assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8, chunks[-1]
assert chunks[-1].choices[0].finish_reason == "length"
seen["completion"] = whole

# Chat, whole and streamed (with the stream_options clients send for usage).
messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is a Datanet?"}]
r = client.chat.completions.create(model=adapter, messages=messages, max_tokens=6, temperature=0, seed=7)
assert r.object == "chat.completion" and r.choices[0].message.role == "assistant", r
assert 1 <= r.usage.completion_tokens <= 6, r.usage
assert r.choices[0].finish_reason in ("stop", "length")
stream = client.chat.completions.create(
    model=adapter, messages=messages, max_tokens=6, temperature=0, seed=7, stream=True,
    stream_options={"include_usage": True})
parts, usage, roles = [], None, []
for ch in stream:
    if ch.usage is not None:
        usage = ch.usage
    for choice in ch.choices:
        if choice.delta.role:
            roles.append(choice.delta.role)
        if choice.delta.content:
            parts.append(choice.delta.content)
assert roles == ["assistant"], roles
assert "".join(parts) == (r.choices[0].message.content or ""), (parts, r.choices[0].message.content)
assert usage is not None and usage.completion_tokens == r.usage.completion_tokens, usage
seen["chat"] = r.choices[0].message.content

# The base model, sampled with a seed: the same seed gives the same text.
a = client.completions.create(model=base_model, prompt="OPEN", max_tokens=5, temperature=0.8, seed=3)
b = client.completions.create(model=base_model, prompt="OPEN", max_tokens=5, temperature=0.8, seed=3)
assert a.choices[0].text == b.choices[0].text

# Errors arrive as the client's typed exceptions, with OpenAI's error body.
try:
    client.completions.create(model="0x" + "ab" * 32, prompt="x", max_tokens=2)
    raise AssertionError("an unknown adapter was served")
except openai.NotFoundError as e:
    assert e.status_code == 404 and e.code == "model_not_found", e
try:
    client.completions.create(model=adapter, prompt="x", max_tokens=2, n=2)
    raise AssertionError("n=2 was accepted")
except openai.BadRequestError as e:
    assert e.status_code == 400 and e.param == "n", e
seen["errors"] = "ok"

print(json.dumps(seen))
