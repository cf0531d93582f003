"""LLM judge against a local OpenAI-compatible server: scores, retries, cache, no key leak."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aligncap_lib.preference.judges import ClipContext
from aligncap_lib.preference.llm_judge import (
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_MODEL,
    JudgeBatchError,
    JudgeError,
    LLMJudge,
    judge_prompt,
    parse_scores,
)
from aligncap_lib.preference.po_regularization import judge_by_name as make_judge

KEY = "sk-test-SECRET-7f3a9"
GOOD = '{"factuality": 10, "faithfulness": 7, "similarity": 1}'


class Endpoint:
    """A scripted chat-completions server on 127.0.0.1: each request takes the next behaviour of ``plan``
    ("ok", "sleep", "500", "500_echo", "401", "bad_body", "bad_content", "echo_key"); "ok" when the plan is
    empty. Records every request's headers and body."""

    def __init__(self, content: str = GOOD, sleep_s: float = 0.6) -> None:
        self.plan: list[str] = []
        self.requests: list[dict] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                auth = self.headers.get("Authorization", "")
                endpoint.requests.append({"path": self.path, "auth": auth, "body": body})
                what = endpoint.plan.pop(0) if endpoint.plan else "ok"
                if what == "sleep":
                    time.sleep(sleep_s)
                if what in ("500", "500_echo", "401"):
                    code = 401 if what == "401" else 500
                    self.send_response(code, f"boom {auth}" if what == "500_echo" else None)
                    self.end_headers()
                    self.wfile.write(f"error for {auth}".encode())
                    return
                text = {"bad_content": "I would say about seven.", "echo_key": f"your key is {auth}"}.get(
                    what, content
                )
                payload = (b"<html>not json" if what == "bad_body" else json.dumps({"object": "chat.completion",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}).encode())  # fmt: skip
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> Endpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def clip(cid="clip-7", refs=("An angry, loud voice.",)):
    return ClipContext(id=cid, lang="en", measured={"emotion": "angry", "loudness": "loud"}, references=refs,
                       transcript="Leave me alone")  # fmt: skip


def judge(ep, tmp_path=None, **kw):
    kw = {"retries": 2, "backoff_s": 0.01, "timeout_s": 2.0, **kw}
    return LLMJudge(base_url=ep.url, model="judge-model", api_key=KEY, cache_dir=tmp_path, **kw)


def test_scores_are_parsed_normalised_and_sent_in_chat_format(tmp_path):
    with Endpoint() as ep:
        s = judge(ep, tmp_path).score_many([("The speaker sounds angry and loud.", clip())])[0]
    assert s.breakdown == pytest.approx({"factuality": 1.0, "faithfulness": 6 / 9, "similarity": 0.0})
    assert s.score == pytest.approx(0.5 * 1.0 + 0.3 * 6 / 9 + 0.2 * 0.0)
    (req,) = ep.requests
    assert req["path"] == "/v1/chat/completions" and req["auth"] == f"Bearer {KEY}"
    assert req["body"]["model"] == "judge-model"
    user = req["body"]["messages"][-1]["content"]
    assert "emotion: angry" in user and "An angry, loud voice." in user and "The speaker sounds angry" in user


def test_without_references_similarity_is_not_asked_nor_scored(tmp_path):
    with Endpoint(content='{"factuality": 10, "faithfulness": 10}') as ep:
        s = judge(ep).score_many([("Angry.", clip(refs=()))])[0]
    assert "similarity" not in ep.requests[0]["body"]["messages"][-1]["content"].split("Measured clues")[0]
    assert s.score == pytest.approx(1.0) and s.breakdown["similarity"] == 0.5


def test_http_500_then_success_is_retried(tmp_path):
    with Endpoint() as ep:
        ep.plan = ["500", "500"]
        s = judge(ep).score_many([("Angry.", clip())])[0]
    assert len(ep.requests) == 3 and s.breakdown["factuality"] == 1.0


def test_timeout_is_retried_and_the_last_failure_names_the_clip():
    with Endpoint(sleep_s=0.5) as ep:
        ep.plan = ["sleep"]
        assert judge(ep, timeout_s=0.2).score_many([("Angry.", clip())])[0].breakdown["factuality"] == 1.0
        assert len(ep.requests) == 2
        ep.plan = ["sleep"] * 3
        t0 = time.perf_counter()
        with pytest.raises(JudgeError, match="clip 'clip-7' failed after 2 attempts.*[Tt]imed? ?out"):
            judge(ep, timeout_s=0.2, retries=1).score(" Angry.", clip())
        assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize("bad", ["bad_body", "bad_content"])
def test_malformed_answers_are_retried(bad):
    with Endpoint() as ep:
        ep.plan = [bad]
        assert judge(ep).score_many([("Angry.", clip())])[0].breakdown["faithfulness"] == pytest.approx(6 / 9)
        assert len(ep.requests) == 2


def test_out_of_range_scores_are_malformed():
    with pytest.raises(ValueError, match="factuality"):
        parse_scores('{"factuality": 11, "faithfulness": 5}', ("factuality", "faithfulness"))
    with pytest.raises(ValueError, match="faithfulness"):
        parse_scores('{"factuality": 3}', ("factuality", "faithfulness"))
    assert parse_scores(
        '```json\n{"factuality": 1, "faithfulness": 10}\n```', ("factuality", "faithfulness")
    ) == {
        "factuality": 0.0,
        "faithfulness": 1.0,
    }


def test_client_errors_fail_at_once():
    with Endpoint() as ep:
        ep.plan = ["401"]
        with pytest.raises(JudgeError, match="clip 'clip-7'.*HTTP 401"):
            judge(ep).score("Angry.", clip())
        assert len(ep.requests) == 1


def test_cache_hit_sends_no_request(tmp_path):
    items = [("Angry.", clip("a")), ("Loud.", clip("b")), ("Angry.", clip("a"))]
    with Endpoint() as ep:
        first = judge(ep, tmp_path).score_many(items)
        assert len(ep.requests) == 2  # the repeated item is answered from memory
        again = judge(ep, tmp_path).score_many(items)  # a fresh judge: the disk cache answers
        assert len(ep.requests) == 2 and again == first
        LLMJudge(base_url=ep.url, model="other-model", cache_dir=tmp_path, backoff_s=0.0).score_many(
            items[:1]
        )
        assert len(ep.requests) == 3  # the model is part of the cache key
    assert len(list(tmp_path.glob("*.json"))) == 3
    damaged = sorted(tmp_path.glob("*.json"))[0]
    damaged.write_text("{trunc", encoding="utf-8")
    with Endpoint() as ep2:
        LLMJudge(base_url=ep2.url, model="judge-model", cache_dir=tmp_path).score_many(items)
        LLMJudge(base_url=ep2.url, model="other-model", cache_dir=tmp_path).score_many(items[:1])
        assert len(ep2.requests) == 1  # only the damaged entry is asked again


def test_batch_reports_failed_items_and_keeps_the_others(tmp_path):
    items = [("Angry.", clip("ok-1")), ("Loud.", clip("bad-2")), ("Calm.", clip("ok-3"))]
    with Endpoint() as ep:
        ep.plan = ["ok", "500", "500", "500"]  # item 2 exhausts its 3 attempts
        with pytest.raises(JudgeBatchError, match="bad-2") as info:
            judge(ep, tmp_path).score_many(items)
    err = info.value
    assert [f[:2] for f in err.failures] == [(1, "bad-2")]
    assert err.scores[1] is None and err.scores[0] is not None and err.scores[2] is not None


def test_the_key_never_leaks(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with Endpoint() as ep:
        ep.plan = ["500_echo", "echo_key", "500_echo"]  # a server that echoes the Authorization header
        j = judge(ep, tmp_path)
        with pytest.raises(JudgeError) as info:
            j.score("Angry.", clip())
        j.score_many([("Loud.", clip("fine"))])
    assert ep.requests[0]["auth"] == f"Bearer {KEY}"  # it was sent ...
    assert "clip-7" in str(info.value) and KEY not in str(info.value)  # ... and is never written back
    assert KEY not in repr(j) and KEY not in caplog.text and "***" in caplog.text
    files = list(tmp_path.rglob("*"))
    assert files and all(KEY not in f.read_text(encoding="utf-8") for f in files if f.is_file())


def test_configuration_from_the_environment(monkeypatch):
    monkeypatch.delenv(ENV_BASE_URL, raising=False)
    with pytest.raises(ValueError, match=ENV_BASE_URL):
        LLMJudge(model="m")
    monkeypatch.setenv(ENV_BASE_URL, "http://127.0.0.1:9/v1/")
    monkeypatch.setenv(ENV_MODEL, "env-model")
    monkeypatch.setenv(ENV_API_KEY, KEY)
    j = make_judge("llm")
    assert isinstance(j, LLMJudge) and j.base_url == "http://127.0.0.1:9/v1" and j.model == "env-model"
    assert KEY not in repr(j) and j.name == "llm"


def test_prompt_carries_the_clip_and_nothing_secret():
    p = judge_prompt(
        "说话人很生气", ClipContext(id="z", lang="zh", measured={"rate": "fast"}, references=("语速很快",))
    )
    assert (
        "rate: fast" in p and "语速很快" in p and "说话人很生气" in p and "Chinese" in p and "1 (worst)" in p
    )
