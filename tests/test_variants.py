"""The architecture switches (model.ffn, model.norm, model.position; nbs/03b_variants.ipynb) end to end, per variant on
the tiny config of test_pretrain.py: a few pretraining steps (in process, as scripts/pretrain.py runs them), a resume
from the middle checkpoint that ends on the uninterrupted run's weights, an export (the combined variant through
scripts/export.py, the others through the function it calls) that a Python which never imports neobert loads with
AutoModelForMaskedLM(trust_remote_code=True) as the folder's own code, with our logits; a resume with another switch
is refused, and learned positions refuse rows longer than model.max_length."""
import json, os, shutil, subprocess, sys
import pytest, torch
from safetensors.torch import load_file, save_file
from conftest import ROOT, OFFLINE, run_script
from test_pretrain import TINY, weights, same

VARIANTS = {"geglu": ["--model.ffn", "geglu"], "gelu": ["--model.ffn", "gelu"], "layernorm": ["--model.norm", "layernorm"],
            "learned": ["--model.position", "learned"],
            "combined": ["--model.ffn", "gelu", "--model.norm", "layernorm", "--model.position", "learned"]}
STEPS, SAVE = 4, 2
REMOTE = ("import sys, json, torch\n"                  # a Python that never imports neobert: each folder's own code
          "from transformers import AutoModelForMaskedLM\n"
          "from safetensors.torch import load_file, save_file\n"
          "t = load_file(sys.argv[1]); out = {}\n"
          "for d in sys.argv[2:]:\n"
          "    m = AutoModelForMaskedLM.from_pretrained(d, trust_remote_code=True).eval()\n"
          "    with torch.no_grad(): out[d] = m(t['ids'], attention_mask=t['am']).logits.contiguous()\n"
          "    assert type(m).__module__.startswith('transformers_modules.'), type(m).__module__\n"
          "save_file(out, sys.argv[1] + '.logits')\n"
          "print(json.dumps({'neobert': [k for k in sys.modules if k.startswith('neobert')]}))\n")

def pretrain_run(out, *extra, steps=STEPS):
    "scripts/pretrain.py's work, in this process (no interpreter start per run): the tiny config plus `extra`."
    from neobert.config import load_config
    from neobert.train import pretrain
    over = [str(a) for a in TINY[2:]] + ["--trainer.output_dir", str(out), "--trainer.max_steps", str(steps),
                                         "--trainer.save_steps", str(SAVE), "--trainer.seed", "7", *extra]
    return pretrain(load_config(ROOT / "configs" / "pretrain_tiny.yaml", over))

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    "Per variant: an uninterrupted run and its export; then the logits of every export, loaded as remote code."
    from neobert.export import export
    d, res = tmp_path_factory.mktemp("variants"), {}
    for name, extra in VARIANTS.items():
        res[name] = {"summary": pretrain_run(d / name, *extra), "run": d / name, "out": d / f"{name}-hf"}
        if name == "combined":
            r = run_script(ROOT / "scripts" / "export.py", d / name, res[name]["out"])
            assert r.returncode == 0, r.stderr[-3000:]
        else: export(d / name, res[name]["out"])
    ids = torch.randint(5, 1000, (2, 24), generator=torch.Generator().manual_seed(0))
    am = torch.ones_like(ids); am[1, 15:] = 0
    save_file({"ids": ids, "am": am}, str(d / "in"))
    r = subprocess.run([sys.executable, "-c", REMOTE, str(d / "in"), *(str(v["out"]) for v in res.values())], cwd=d,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, env={**os.environ, **OFFLINE}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1])["neobert"] == []
    logits = load_file(str(d / "in.logits"))
    for v in res.values(): v["remote"] = logits[str(v["out"])]
    return res, ids, am

@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_trains(runs, name):
    res, _, _ = runs
    s, extra = res[name]["summary"], VARIANTS[name]
    assert s["steps"] == STEPS and torch.isfinite(torch.tensor(s["val_mlm_loss"]))
    for f in ("checkpoints/step-4/config.json", "../" + f"{name}-hf/config.json"):
        cj = json.loads((res[name]["run"] / f).read_text())
        for k, v in zip(extra[::2], extra[1::2]): assert cj[k.split(".")[1]] == v, (f, k, cj)

@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_resumes(runs, name, tmp_path, capsys):
    "The run cut after step SAVE (its last checkpoint removed) and rerun ends on the uninterrupted run's weights."
    res, _, _ = runs
    ref, cut = res[name]["run"], tmp_path / "cut"
    shutil.copytree(ref, cut); shutil.rmtree(cut / "checkpoints" / f"step-{STEPS}")
    capsys.readouterr()
    pretrain_run(cut, *VARIANTS[name])
    assert f"resumed from {cut / 'checkpoints' / f'step-{SAVE}'}" in capsys.readouterr().out
    assert same(weights(cut, STEPS), weights(ref, STEPS))
    assert not same(weights(ref, SAVE), weights(ref, STEPS))                      # negative control: training moved them

@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_exports(runs, name):
    "The export, loaded as remote code elsewhere, gives the logits of the checkpoint loaded by our package."
    from neobert.convert import import_checkpoint
    res, ids, am = runs
    ours = import_checkpoint(res[name]["run"] / "checkpoints" / f"step-{STEPS}").eval()
    with torch.no_grad(): want, nomask = ours(ids, attention_mask=am).logits, ours(ids).logits
    torch.testing.assert_close(res[name]["remote"], want, atol=1e-5, rtol=0)
    assert (res[name]["remote"] - nomask).abs().max() > 1e-3                      # negative control: the mask was used

def test_resume_with_another_switch_is_refused(runs, tmp_path):
    from neobert.config import UserError
    res, _, _ = runs
    shutil.copytree(res["gelu"]["run"], tmp_path / "run")
    with pytest.raises(UserError, match=r"model shape changed \(model.ffn: checkpoint gelu vs now swiglu\)"):
        pretrain_run(tmp_path / "run", steps=STEPS + 2)

def test_learned_positions_refuse_long_rows(tmp_path):
    from neobert.config import UserError
    with pytest.raises(UserError, match=r"data.max_length \(64\) is longer than model.max_length \(32\)"):
        pretrain_run(tmp_path / "run", "--model.position", "learned", "--model.max_length", "32")
    assert not (tmp_path / "run" / "checkpoints").exists()
