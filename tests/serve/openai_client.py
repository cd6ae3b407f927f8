"""slm serve checked with the official `openai` client: chat and text completions, streaming, n, stop,
logprobs, usage, adapters, errors and authentication, and concurrent requests batched together giving the
tokens each gives alone.

Usage: python openai_client.py BASE_URL API_KEY BASE_MODEL ADAPTER
Exits non-zero with the failed check on stderr.
"""

import concurrent.futures
import sys
import urllib.request

import openai

base_url, api_key, base_model, adapter = sys.argv[1:5]
client = openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0)


def check(ok, what):
    if not ok:
        sys.exit(f"FAILED: {what}")


# Models: the base and the adapter.
ids = [m.id for m in client.models.list().data]
check(ids == [base_model, adapter], f"models {ids}")

# Chat, greedy.
messages = [{"role": "user", "content": "Hi"}]
r = client.chat.completions.create(model=base_model, messages=messages, max_tokens=12, temperature=0)
c = r.choices[0]
check(r.object == "chat.completion" and r.model == base_model, f"chat object/model {r.object} {r.model}")
check(c.message.role == "assistant" and isinstance(c.message.content, str), f"chat message {c.message}")
check(c.finish_reason in ("stop", "length"), f"finish_reason {c.finish_reason}")
u = r.usage
check(u.completion_tokens <= 12 and u.total_tokens == u.prompt_tokens + u.completion_tokens, f"usage {u}")
check(c.finish_reason == "stop" or u.completion_tokens == 12, f"length finish at {u.completion_tokens} tokens")
greedy_chat = c.message.content

# Chat, streamed with usage and logprobs: role first, one id, finish chunk without content, usage last.
chunks = list(client.chat.completions.create(model=base_model, messages=messages, max_tokens=12, temperature=0,
                                             stream=True, stream_options={"include_usage": True},
                                             logprobs=True, top_logprobs=3))
check(chunks[0].choices[0].delta.role == "assistant", "first chunk carries the role")
check(len({ch.id for ch in chunks}) == 1, "one id for every chunk")
content = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
check(content == greedy_chat, f"streamed {content!r} != whole {greedy_chat!r}")
finals = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason]
check(len(finals) == 1 and not finals[0].choices[0].delta.content, "one finish chunk, without content")
check(chunks[-1].choices == [] and chunks[-1].usage.total_tokens == u.total_tokens, f"usage chunk {chunks[-1]}")
check(all(ch.usage is None for ch in chunks[:-1]), "usage only in the last chunk")
tokens = [t for ch in chunks if ch.choices and ch.choices[0].logprobs for t in ch.choices[0].logprobs.content]
check("".join(t.token for t in tokens) == content, "logprob tokens join to the content")
check(all(len(t.top_logprobs) == 3 and t.logprob <= 0 for t in tokens), "three alternatives per token")
check(all(t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob >= t.top_logprobs[2].logprob for t in tokens),
      "alternatives best first")
check(all(t.logprob <= t.top_logprobs[0].logprob + 1e-6 for t in tokens), "no token beats the best alternative")

# Text completions: whole, streamed, logprobs.
prompt = "ROMEO:\nI"
r = client.completions.create(model=base_model, prompt=prompt, max_tokens=16, temperature=0, logprobs=2)
text = r.choices[0].text
check(r.object == "text_completion", r.object)
check("".join(r.choices[0].logprobs.tokens) == text, "completion logprob tokens join to the text")
check(all(len(t) <= 2 for t in r.choices[0].logprobs.top_logprobs), "at most two alternatives")
streamed = "".join(ch.choices[0].text for ch in client.completions.create(
    model=base_model, prompt=prompt, max_tokens=16, temperature=0, stream=True) if ch.choices)
check(streamed == text, f"streamed completion {streamed!r} != {text!r}")

# Stop: cut before a string the greedy text contains.
if len(text) > 4:
    stop = text[3:5]
    cut = text[: text.find(stop)]
    r = client.completions.create(model=base_model, prompt=prompt, max_tokens=16, temperature=0, stop=[stop])
    check(r.choices[0].text == cut and r.choices[0].finish_reason == "stop", f"stop {stop!r}: {r.choices[0]}")

# n samples: indexes, reproducible with a seed, usage counts every choice.
kw = dict(model=base_model, prompt=prompt, max_tokens=8, temperature=1.0, n=3, seed=5, logprobs=0)
a, b = client.completions.create(**kw), client.completions.create(**kw)
check(sorted(c.index for c in a.choices) == [0, 1, 2], "three choices")
check([c.text for c in a.choices] == [c.text for c in b.choices], "a seed reproduces the samples")
check(len({c.text for c in a.choices}) > 1, "the choices are different samples")
check(a.usage.completion_tokens == sum(len(c.logprobs.tokens) for c in a.choices), "usage counts every choice")

# Several prompts in one request.
r = client.completions.create(model=base_model, prompt=["ROMEO:", "JULIET:"], max_tokens=4, temperature=0)
check(len(r.choices) == 2, "a choice per prompt")

# The adapter is another model: other log-probabilities for the same text.
base = client.completions.create(model=base_model, prompt=prompt, max_tokens=4, temperature=0, logprobs=0)
tuned = client.completions.create(model=adapter, prompt=prompt, max_tokens=4, temperature=0, logprobs=0)
check(tuned.model == adapter, tuned.model)
check(base.choices[0].logprobs.token_logprobs != tuned.choices[0].logprobs.token_logprobs, "the adapter changes the model")

# Errors in OpenAI's shape.
try:
    client.completions.create(model="nope", prompt="a", max_tokens=2)
    check(False, "unknown model accepted")
except openai.NotFoundError as e:
    check(e.code == "model_not_found", f"code {e.code}")
try:
    client.completions.create(model=base_model, prompt="a", max_tokens=2, temperature=5)
    check(False, "temperature 5 accepted")
except openai.BadRequestError as e:
    check(e.param == "temperature" and e.type == "invalid_request_error", f"{e.param} {e.type}")
try:
    client.completions.create(model=base_model, prompt="a" * 500, max_tokens=2)
    check(False, "a prompt longer than the context accepted")
except openai.BadRequestError as e:
    check(e.code == "context_length_exceeded" and e.param == "prompt", f"{e.code} {e.param}")
try:
    openai.OpenAI(base_url=base_url + "/v1", api_key="wrong", max_retries=0).models.list()
    check(False, "a wrong key accepted")
except openai.AuthenticationError:
    pass

# Concurrent greedy requests run in one batch and give each the tokens it gets alone.
prompts = ["ROMEO:", "JULIET:\nO", "First Citizen:", "KING:", "All:", "Speak.", "O", "Now"]
alone = [client.completions.create(model=base_model, prompt=p, max_tokens=20, temperature=0).choices[0].text
         for p in prompts]
with concurrent.futures.ThreadPoolExecutor(len(prompts)) as pool:
    together = list(pool.map(lambda p: client.completions.create(
        model=base_model, prompt=p, max_tokens=20, temperature=0).choices[0].text, prompts))
check(together == alone, f"batched {together} != alone {alone}")
request = urllib.request.Request(base_url + "/metrics", headers={"Authorization": "Bearer " + api_key})
metrics = urllib.request.urlopen(request).read().decode()
peak = next(int(line.split()[1]) for line in metrics.splitlines() if line.startswith("slm_batch_size_max "))
check(peak > 1, f"concurrent requests never shared a batch (peak {peak})")
print(f"ok: {len(ids)} models, peak batch {peak}")
