"""LLM writer against a real OpenAI-compatible HTTP server process (a fake one started by the test)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from gazecxr.report.config import LLMConfig, ReportConfig
from gazecxr.report.generate import plan_from_findings, write_report
from gazecxr.report.llm import SYSTEM_PROMPT, PrivacyError, build_request, guard_items, verify_sentence
from gazecxr.report.writers import StatedFinding
from gazecxr.vocab.dictionary import load_dictionary

pytest.importorskip("openai")

# The model name selects the server's behaviour; every request body is logged as one JSON line.
SERVER = textwrap.dedent("""
    import json, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    LOG = sys.argv[1]
    PREFIX = {"consistent with": "There is", "suspicious for": "Findings are suspicious for", "possibly": "Possible"}
    calls = {"flaky": 0}

    def good(items):
        out = []
        for it in items:
            where = (" in the " + " and ".join(it["regions"])) if it["regions"] else ""
            out.append({"id": it["id"], "text": PREFIX[it["certainty"]] + " " + it["finding"] + where + "."})
        return out

    def bad(items):
        out = []
        for it in items:
            if it["id"] == 0:  # a region that was not given
                out.append({"id": 0, "text": "There is " + it["finding"] + " in the left upper lung zone."})
            elif it["id"] == 1:  # an extra finding
                out.append({"id": 1, "text": "There is " + it["finding"] + " and a pneumothorax."})
            else:  # certainty upgraded from "possibly"
                out.append({"id": it["id"], "text": "There is definite " + it["finding"] + "."})
        return out

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with open(LOG, "a") as f:
                f.write(json.dumps({"path": self.path, "body": body}) + "\\n")
            model = body["model"]
            items = json.loads(body["messages"][1]["content"])["findings"]
            if model == "flaky":
                calls["flaky"] += 1
                if calls["flaky"] == 1:
                    self.send_response(503); self.end_headers(); return
                model = "good"
            if model == "slow":
                time.sleep(5)
            content = {"good": lambda: json.dumps({"sentences": good(items)}),
                       "bad": lambda: json.dumps({"sentences": bad(items)}),
                       "garbage": lambda: "Sure! Here is your report: effusion."}[model if model != "slow" else "good"]()
            data = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": model,
                               "choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant", "content": content}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
""")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llm")
    script, log = folder / "server.py", folder / "requests.jsonl"
    script.write_text(SERVER)
    proc = subprocess.Popen([sys.executable, str(script), str(log)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1", log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _plan():
    d = load_dictionary()
    plan = plan_from_findings(
        {
            "Atelectasis": ("left lower lung zone", "right lower lung zone"),
            "Pleural abnormality": ("right costophrenic angle",),
            "Consolidation": ("left upper lung zone",),
        },
        ["Atelectasis", "Pleural abnormality", "Consolidation", "Pneumothorax"],
        d,
    )
    plan.findings[2].certainty = "possibly"
    return plan, d


def _report(url, model, **kw):
    plan, d = _plan()
    cfg = ReportConfig(writer="llm", llm=LLMConfig(base_url=url, model=model, **kw))
    return write_report(plan, cfg, d)


def _requests(log):
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_good_answers_are_used_and_the_payload_is_exactly_findings_certainties_regions(server):
    url, log = server
    log.write_text("")
    rep = _report(url, "good")
    llm = [s for s in rep.sentences if s.source == "llm"]
    assert [s.text for s in llm] == [
        "There is atelectasis in the left lower lung zone and right lower lung zone.",
        "There is pleural effusion in the right costophrenic angle.",
        "Possible consolidation in the left upper lung zone.",
    ]
    assert not [s for s in rep.sentences if s.source == "template-fallback"]
    (request,) = _requests(log)
    assert request["path"] == "/v1/chat/completions"
    assert request["body"] == {
        "model": "good",
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {
                "role": "user",
                "content": json.dumps(
                    {
                        "findings": [
                            {
                                "id": 0,
                                "finding": "atelectasis",
                                "certainty": "consistent with",
                                "regions": ["left lower lung zone", "right lower lung zone"],
                            },
                            {
                                "id": 1,
                                "finding": "pleural effusion",
                                "certainty": "consistent with",
                                "regions": ["right costophrenic angle"],
                            },
                            {
                                "id": 2,
                                "finding": "consolidation",
                                "certainty": "possibly",
                                "regions": ["left upper lung zone"],
                            },
                        ]
                    }
                ),
            },
        ],
        "temperature": 0.0,
        "response_format": request["body"]["response_format"],
    }
    assert request["body"]["response_format"]["type"] == "json_schema"


def test_bad_answers_are_replaced_by_template_sentences_with_reasons(server):
    url, _ = server
    rep = _report(url, "bad")
    fallback = {s.findings[0]: s.reason for s in rep.sentences if s.source == "template-fallback"}
    assert "regions that were not given" in fallback["Atelectasis"]
    assert "not given: Pneumothorax" in fallback["Pleural abnormality"]
    assert "upgrades certainty" in fallback["Consolidation"]
    assert "pneumothorax and" not in rep.findings_text.lower()


def test_schema_violation_timeout_and_retry(server):
    url, log = server
    garbage = _report(url, "garbage")
    assert {s.reason for s in garbage.sentences if s.source == "template-fallback"} == {
        "answer does not follow the JSON schema"
    }
    slow = _report(url, "slow", timeout_s=0.5, retries=0)
    assert all(s.source != "llm" for s in slow.sentences)
    assert {s.reason for s in slow.sentences if s.source == "template-fallback"} == {
        "server error: APITimeoutError"
    }
    log.write_text("")
    flaky = _report(url, "flaky", retries=1)
    assert len(_requests(log)) == 2 and sum(s.source == "llm" for s in flaky.sentences) == 3


def test_privacy_guard_rejects_anything_outside_the_vocabulary():
    plan, d = _plan()
    request = build_request(plan, d, "m", 0.0)
    assert set(request) == {"model", "messages", "temperature", "response_format"}
    with pytest.raises(PrivacyError, match="outside the dictionary vocabulary"):
        guard_items(
            [{"id": 0, "finding": "effusion in patient 12345", "certainty": "possibly", "regions": []}], d
        )
    with pytest.raises(PrivacyError, match="only id, finding, certainty, regions"):
        guard_items(
            [
                {
                    "id": 0,
                    "finding": "atelectasis",
                    "certainty": "possibly",
                    "regions": [],
                    "date": "2150-01-01",
                }
            ],
            d,
        )
    with pytest.raises(PrivacyError, match="outside the 17 regions"):
        guard_items(
            [{"id": 0, "finding": "atelectasis", "certainty": "possibly", "regions": ["John Smith"]}], d
        )


def test_verify_sentence_rules():
    d = load_dictionary()
    item = StatedFinding("Pleural abnormality", "suspicious for", ("right costophrenic angle",))
    assert verify_sentence("Findings suspicious for a small right pleural effusion.", item, d) is None
    assert verify_sentence("Possible right pleural effusion.", item, d) is None  # downgrade is allowed
    assert "upgrades" in verify_sentence("Right pleural effusion.", item, d)
    assert "negates" in verify_sentence("No pleural effusion.", item, d)
    assert "does not state" in verify_sentence("The lungs are clear.", item, d)
    assert "regions" in verify_sentence("Possible left pleural effusion.", item, d)


def test_missing_server_settings_are_a_clear_error(monkeypatch):
    monkeypatch.delenv("GAZECXR_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("GAZECXR_LLM_MODEL", raising=False)
    plan, d = _plan()
    with pytest.raises(ValueError, match="GAZECXR_LLM_BASE_URL"):
        write_report(plan, ReportConfig(writer="llm"), d)
