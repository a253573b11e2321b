"scripts/bench.py writes a complete, self-consistent JSON + plot; it runs where the GPU machine's missing packages are absent; its presets are strict configs; the notebook-cell runner and the GPU check behave."
import json, math, os, statistics, subprocess, sys, textwrap
from pathlib import Path
import pytest
from conftest import ROOT, run_script

# Packages the bare GPU machine does not have: imports fail, find_spec() is None, metadata says not installed.
BLOCKER = '''
import sys, importlib.abc, importlib.util, importlib.metadata as md
BLOCK = {"datasets", "mteb", "wandb", "gensim", "nbdev", "execnb", "evaluate"}
_b = lambda n: n.replace("-", "_").split(".")[0] in BLOCK
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if _b(name): raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Block())
_fs, _d, _v = importlib.util.find_spec, md.distribution, md.version
importlib.util.find_spec = lambda n, p=None: None if _b(n) else _fs(n, p)
def _nf(f):
    def g(n):
        if _b(n): raise md.PackageNotFoundError(n)
        return f(n)
    return g
md.distribution, md.version = _nf(_d), _nf(_v)
'''

def geomean(xs): return math.exp(sum(math.log(x) for x in xs) / len(xs))

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "tiny.json"
    r = run_script("scripts/bench.py", "--tiny", "--bench.device", "cpu", "--out", out, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(out.read_text()), out, r

def test_structure(tiny):
    res, out, r = tiny
    for k in ("machine", "versions", "settings", "models", "train", "inference", "corpus", "memory", "graph_breaks", "ratios", "errors"):
        assert k in res, k
    assert res["errors"] == [] and not res.get("partial")
    assert res["versions"]["torch"] and res["versions"]["transformers"] and res["machine"]["device"] == "cpu"
    assert {"peak_flops", "peak_source", "model", "tokens_per_step", "optimizer", "threads"} <= set(res["settings"])
    # parameter counts: reported, and the peers really are matched in width, depth and heads
    for name in ("neobert", "modernbert", "bert"):
        m = res["models"][name]
        assert m["params"] > m["token_linear_params"] > 0
        assert (m["hidden"], m["layers"], m["heads"]) == (64, 2, 2)
    assert res["models"]["neobert"]["token_linear_params"] == res["models"]["modernbert"]["token_linear_params"]
    png = out.with_suffix(".png")
    assert png.exists() and png.read_bytes()[:4] == b"\x89PNG"
    # stdout carries the summary
    assert json.loads(r.stdout)["ratios"]["train_vs_bert"] == res["ratios"]["train_vs_bert"]

def test_figures_consistent(tiny):
    res, _, _ = tiny
    peak = res["settings"]["peak_flops"]
    for sec in ("train", "inference"):
        rows = [r for r in res[sec] if r["status"] == "ok"]
        assert {r["model"] for r in rows} == {"neobert", "modernbert", "bert"}
        for r in rows:
            assert r["step_s"] == pytest.approx(statistics.median(r["step_s_all"]), rel=1e-3)
            assert r["tokens_per_s"] == pytest.approx(r["batch_size"] * r["seq_len"] / r["step_s"], rel=1e-9)
            assert r["mfu"] == pytest.approx(r["flops_per_token"] * r["tokens_per_s"] / peak, rel=1e-9)
    # the MFU numerator is the model's FLOPs: 6 x per-token weights (+ decoder on the masked 20%) + attention
    m = res["models"]["neobert"]
    r = next(r for r in res["train"] if r["model"] == "neobert" and r["status"] == "ok")
    assert r["flops_per_token"] == pytest.approx(6 * (m["token_linear_params"] + 0.2 * m["decoded_linear_params"]) + 12 * m["layers"] * m["hidden"] * r["seq_len"])

def test_ratios_match_raw_figures(tiny):
    "Each ratio is the median over the rounds of that round's ratio, recomputed here from the rows."
    res, _, _ = tiny
    ratios = res["ratios"]
    rounds = res["settings"]["config"]["bench"]["rounds"]
    assert rounds == 2 and {r["round"] for r in res["train"]} == {0, 1} and {r["round"] for r in res["corpus"]["rows"]} == {0, 1}
    tps = lambda sec, model, k: {r["seq_len"]: r["tokens_per_s"] for r in res[sec] if r["model"] == model and r["status"] == "ok"
                                 and r["variant"] == "eager" and r["backend"] == "sdpa" and r["round"] == k}
    for sec, key in (("train", "train"), ("inference", "inference")):
        for peer in ("modernbert", "bert"):
            per = []
            for k in (range(rounds) if sec == "train" else [0]):      # inference runs once
                ours, p = tps(sec, "neobert", k), tps(sec, peer, k)
                assert set(p) == set(ours) == set(res["settings"][f"{'train' if sec == 'train' else 'infer'}_lens"])
                per.append(geomean([ours[S] / p[S] for S in ours]))
            assert ratios[f"{key}_vs_{peer}"] == pytest.approx(statistics.median(per), rel=1e-9)
            if sec == "train":
                sp = ratios["spread"][f"train_vs_{peer}"]
                assert sp["per_round"] == pytest.approx(per, rel=1e-9) and (sp["min"], sp["max"]) == pytest.approx((min(per), max(per)))
    per = {}
    for k in range(rounds):
        rows = {(r["model"], r["batching"]): r for r in res["corpus"]["rows"] if r["status"] == "ok" and r["round"] == k}
        for r in rows.values():   # real tokens per second: only non-padding tokens, over the timed steps
            assert r["real_tokens_per_s"] == pytest.approx(r["real_tokens"] / sum(r["step_s_all"]), rel=1e-9)
            assert 0 <= r["padding_fraction"] < 1 and r["real_tokens"] <= r["slots"]
        for key, other in (("packed_vs_padded", "neobert"), ("packed_vs_bert_padded", "bert")):
            per.setdefault(key, []).append(rows[("neobert", "packed")]["real_tokens_per_s"] / rows[(other, "padded")]["real_tokens_per_s"])
        # packing removes padding (the corpus has short documents), padded rows carry some
        assert rows[("neobert", "packed")]["padding_fraction"] < rows[("neobert", "padded")]["padding_fraction"]
    for key, xs in per.items():
        assert ratios[key] == pytest.approx(statistics.median(xs), rel=1e-9)
        assert ratios["spread"][key]["per_round"] == pytest.approx(xs, rel=1e-9)
    wide = [k for k, v in ratios["spread"].items() if v["spread"] > 0.03]
    assert ("note" in ratios) == bool(wide) and all(k in ratios.get("note", "") for k in wide)

def test_memory_and_graph_breaks(tiny):
    res, _, _ = tiny
    mem = res["memory"]
    assert mem["seq_len"] == max(res["settings"]["train_lens"])
    for name in ("neobert", "modernbert", "bert"):
        assert mem["rows"][name]["peak_mem_bytes"] > res["models"][name]["params"] * 4     # at least the float32 weights
    ck = mem["activation_checkpointing"]
    assert ck["saving_fraction"] == pytest.approx(1 - ck["peak_mem_bytes"] / mem["rows"]["neobert"]["peak_mem_bytes"])
    gb = res["graph_breaks"]
    assert gb["encoder_padded"]["graph_breaks"] == 0 and gb["encoder_packed"]["graph_breaks"] == 0
    assert gb["mlm_train_packed"]["graph_breaks"] == 0

def test_bare_machine(tmp_path):
    "As on the GPU machine: no datasets/gensim/mteb/wandb/nbdev. The corpus falls back to synthetic documents and says so."
    (tmp_path / "site").mkdir(); (tmp_path / "site" / "sitecustomize.py").write_text(BLOCKER)
    out = tmp_path / "b.json"
    r = run_script("scripts/bench.py", "--tiny", "--bench.device", "cpu", "--bench.peers", "bert", "--out", out, timeout=300,
                   env={"PYTHONPATH": f"{tmp_path / 'site'}:{ROOT}"})
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["versions"]["datasets"] is None and res["versions"]["gensim"] is None     # the blocker worked
    assert res["corpus"]["source"] == "synthetic" and "SYNTHETIC" in res["corpus"]["note"] and "gensim" in res["corpus"]["note"]
    assert res["ratios"]["packed_vs_padded"] > 0 and res["ratios"]["train_vs_bert"] > 0 and res["errors"] == []
    assert "modernbert" not in res["models"]

def test_bad_arguments():
    r = run_script("scripts/bench.py", "--bench.peers", "roberta", "--tiny", timeout=120)
    assert r.returncode == 2 and "unknown peer 'roberta'" in r.stderr and "Traceback" not in r.stderr
    r = run_script("scripts/bench.py", "--tiny", "--bench.steps_", "3", timeout=120)       # strict keys, with a suggestion
    assert r.returncode == 2 and "unknown config key 'bench.steps_'" in r.stderr and "bench.steps" in r.stderr

def test_presets_and_help(tiny):
    "The presets are configs/bench/*.yaml read strictly by neobert.config; --help lists every key; the result keeps its config."
    res, _, _ = tiny
    assert res["preset"] == "tiny" and res["settings"]["config"]["model"]["hidden_size"] == 64
    assert res["settings"]["config"]["bench"]["device"] == "cpu"
    r = run_script("scripts/bench.py", "--help", timeout=120)
    assert r.returncode == 0 and "--bench.budget_s FLOAT" in r.stdout and "--corpus.source STR" in r.stdout and "--tune.seq_len" in r.stdout
    import yaml
    for name in ("tiny", "quick", "gpu"):
        d = yaml.safe_load((ROOT / "configs" / "bench" / f"{name}.yaml").read_text())
        assert d["bench"]["preset"] == name and set(d) <= {"model", "bench", "corpus", "tune"}

NB = {"cells": [
    {"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": None},
    {"cell_type": "markdown", "metadata": {}, "source": "text"},
    {"cell_type": "code", "metadata": {}, "source": "#| slow\nx = 100", "outputs": [], "execution_count": None},
    {"cell_type": "code", "metadata": {}, "source": "#| cuda\nimport torch\nassert torch.cuda.is_available()\nx += 1000", "outputs": [], "execution_count": None},
    {"cell_type": "code", "metadata": {}, "source": "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nx += 1\nopen('seen.txt', 'w').write(str(x))", "outputs": [], "execution_count": None},
    {"cell_type": "code", "metadata": {}, "source": "#| notest\nraise SystemExit('never')", "outputs": [], "execution_count": None},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}

def test_run_nb_cells(tmp_path):
    import torch
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    good.write_text(json.dumps(NB))
    nb_bad = json.loads(json.dumps(NB)); nb_bad["cells"][4]["source"] = "y = undefined_name"
    bad.write_text(json.dumps(nb_bad))
    out = tmp_path / "nb.json"
    r = run_script("scripts/run_nb_cells.py", good, bad, "--out", out, timeout=300)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]      # one notebook failed
    res = json.loads(out.read_text())
    g, b = res["notebooks"]
    assert g["status"] == "ok" and g["skipped"].get("slow") == 1 and g["skipped"].get("notest") == 1
    # one namespace, in order, from the notebook's folder; the slow cell skipped, the cuda cell only where there is a GPU
    assert (tmp_path / "seen.txt").read_text() == ("1002" if torch.cuda.is_available() else "2")
    assert b["status"] == "failed" and "NameError" in b["failed"]["error"] and b["failed"]["cell"] == 4
    assert res["ok"] is False

def test_gpu_check_script():
    sh = ROOT / "scripts" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(sh)]).returncode == 0
    assert len(sh.read_text().splitlines()) <= 40          # a launcher: the check itself is neobert.gpu_check
    r = subprocess.run(["bash", str(sh)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and "usage" in r.stderr

def test_gpu_check_dry_run(tmp_path):
    "The launcher's dry run lists the bench (tiny on a CPU), each trainer run of configs/bench/gpu_check.yaml with its overrides, the notebooks."
    data = tmp_path / "data"
    for f in ("shards/meta.json", "tokenizer/tokenizer.json"): (data / f).parent.mkdir(parents=True, exist_ok=True); (data / f).write_text("{}")
    r = subprocess.run(["bash", "scripts/gpu_check.sh", str(tmp_path / "out"), "--dry-run", "--check.trainer_force", "true",
                        "--check.data_dir", str(data), "--check.runs", "concat/best,packed/best"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, "PYTHON": sys.executable})
    assert r.returncode == 0, r.stderr[-3000:]
    plan = json.loads(r.stdout)
    assert [p["part"] for p in plan["parts"]] == ["bench", "trainer_concat_best", "trainer_packed_best", "notebooks"]
    bench, concat, packed = plan["parts"][:3]
    assert bench["argv"][1:3] == ["scripts/bench.py", "--tiny"] or bench["argv"][1:3] == ["scripts/bench.py", "--config"]
    for run in (concat, packed):
        a = run["argv"]
        assert a[1:4] == ["scripts/pretrain.py", "--config", "configs/pretrain_neobert_fast.yaml"] and run["limit_s"] <= 80
        kv = dict(zip(a[4::2], a[5::2]))
        assert kv["--trainer.max_steps"] == "10" and kv["--trainer.tokens_per_step"] == "262144" and kv["--model.attn_backend"] == "sdpa"
        assert kv["--data.pretokenized_dir"] == ".gpu_data/shards" and kv["--model.residual_in_fp32"] == "true"
    assert dict(zip(packed["argv"][4::2], packed["argv"][5::2]))["--data.batching"] == "packed"
    assert not (tmp_path / "out" / "summary.json").exists()           # a dry run runs nothing
    # an option where the output folder belongs is refused, not taken as a folder named "--dry-run"
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--dry-run"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert bad.returncode == 2 and "OUT_DIR" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr[-2000:]
    assert not (tmp_path / "--dry-run").exists()

def test_gpu_check_env_and_summary(tmp_path):
    "On a CPU with no parts asked for: env.json (every neobert module imports) and a summary that says what did not run."
    r = subprocess.run(["bash", "scripts/gpu_check.sh", str(tmp_path), "--check.parts", "[]"], capture_output=True, text=True,
                       cwd=ROOT, timeout=300, env={**os.environ, "PYTHON": sys.executable})
    assert r.returncode == 0, r.stderr[-3000:]
    env, s = (json.loads((tmp_path / n).read_text()) for n in ("env.json", "summary.json"))
    assert env["neobert_imports"]["gpu_check"] == "ok" and s["neobert_imports_failing"] == {}
    assert s["parts"] == {} and "bench.json" in s["bench"] and "trainer.json" in s["trainer"]["missing"]
    assert (tmp_path / "log.txt").read_text().count("[gpu_check") >= 2
