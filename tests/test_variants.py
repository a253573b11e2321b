"""The architecture switches (model.ffn, model.norm, model.position; nbs/03b_variants.ipynb) end to end, per variant on
the tiny config of test_pretrain.py: a few pretraining steps (in process, as scripts/pretrain.py runs them), a resume
from the middle checkpoint that ends on the uninterrupted run's weights, an export through scripts/export.py that
loads back with AutoModelForMaskedLM(trust_remote_code=True) as the folder's own code with our logits; a resume with
another switch is refused, and learned positions refuse rows longer than model.max_length."""
import json, os, shutil, subprocess, sys
import pytest, torch
from safetensors.torch import load_file, save_file
from conftest import ROOT, OFFLINE, run_script
from test_pretrain import TINY, weights, same

EXPORT = ROOT / "scripts" / "export.py"
VARIANTS = {"geglu": ["--model.ffn", "geglu"], "gelu": ["--model.ffn", "gelu"], "layernorm": ["--model.norm", "layernorm"],
            "learned": ["--model.position", "learned"],
            "combined": ["--model.ffn", "gelu", "--model.norm", "layernorm", "--model.position", "learned"]}
STEPS, SAVE = 4, 2
REMOTE = ("import sys, json, torch\n"                  # a Python that never imports neobert: the folder's own code
          "from transformers import AutoModelForMaskedLM\n"
          "from safetensors.torch import load_file, save_file\n"
          "m = AutoModelForMaskedLM.from_pretrained(sys.argv[1], trust_remote_code=True).eval()\n"
          "t = load_file(sys.argv[2])\n"
          "with torch.no_grad(): lg = m(t['ids'], attention_mask=t['am']).logits\n"
          "save_file({'logits': lg.contiguous()}, sys.argv[3])\n"
          "print(json.dumps({'mlm': type(m).__module__, 'neobert': [k for k in sys.modules if k.startswith('neobert')]}))\n")

def pretrain_run(out, *extra, steps=STEPS):
    "scripts/pretrain.py's work, in this process (no interpreter start per run): the tiny config plus `extra`."
    from neobert.config import load_config
    from neobert.train import pretrain
    over = [str(a) for a in TINY[2:]] + ["--trainer.output_dir", str(out), "--trainer.max_steps", str(steps),
                                         "--trainer.save_steps", str(SAVE), "--trainer.seed", "7", *extra]
    return pretrain(load_config(ROOT / "configs" / "pretrain_tiny.yaml", over))

@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_trains_resumes_exports(name, tmp_path, capsys):
    extra = VARIANTS[name]
    ref = tmp_path / "ref"
    s = pretrain_run(ref, *extra)
    assert s["steps"] == STEPS and torch.isfinite(torch.tensor(s["val_mlm_loss"]))
    cj = json.loads((ref / "checkpoints" / f"step-{STEPS}" / "config.json").read_text())
    for k, v in zip(extra[::2], extra[1::2]): assert cj[k.split(".")[1]] == v, (k, cj)
    # resume: the run cut after step SAVE (its last checkpoint removed) and rerun ends on the same weights
    cut = tmp_path / "cut"; shutil.copytree(ref, cut); shutil.rmtree(cut / "checkpoints" / f"step-{STEPS}")
    capsys.readouterr()
    pretrain_run(cut, *extra)
    assert f"resumed from {cut / 'checkpoints' / f'step-{SAVE}'}" in capsys.readouterr().out
    assert same(weights(cut, STEPS), weights(ref, STEPS))
    assert not same(weights(ref, SAVE), weights(ref, STEPS))                      # negative control: training moved them
    # export through the script; load back with the folder's own code
    r = run_script(EXPORT, ref, tmp_path / "out")
    assert r.returncode == 0, r.stderr[-3000:]
    ids = torch.randint(5, 1000, (2, 24), generator=torch.Generator().manual_seed(0))
    am = torch.ones_like(ids); am[1, 15:] = 0
    save_file({"ids": ids, "am": am}, str(tmp_path / "in.safetensors"))
    r = subprocess.run([sys.executable, "-c", REMOTE, str(tmp_path / "out"), str(tmp_path / "in.safetensors"),
                        str(tmp_path / "logits.safetensors")], cwd=tmp_path, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, env={**os.environ, **OFFLINE}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["mlm"].startswith("transformers_modules.") and info["neobert"] == [], info
    from neobert.convert import import_checkpoint
    ours = import_checkpoint(ref / "checkpoints" / f"step-{STEPS}").eval()
    with torch.no_grad(): want = ours(ids, attention_mask=am).logits
    got = load_file(str(tmp_path / "logits.safetensors"))["logits"]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    with torch.no_grad(): assert (got - ours(ids).logits).abs().max() > 1e-3    # negative control: the mask was used
    assert json.loads((tmp_path / "out" / "config.json").read_text())[extra[0].split(".")[1]] == extra[1]

def test_resume_with_another_switch_is_refused(tmp_path):
    from neobert.config import UserError
    pretrain_run(tmp_path / "run", "--model.ffn", "gelu", steps=SAVE)
    with pytest.raises(UserError, match=r"model shape changed \(model.ffn: checkpoint gelu vs now swiglu\)"):
        pretrain_run(tmp_path / "run", steps=STEPS)

def test_learned_positions_refuse_long_rows(tmp_path):
    from neobert.config import UserError
    with pytest.raises(UserError, match=r"data.max_length \(64\) is longer than model.max_length \(32\)"):
        pretrain_run(tmp_path / "run", "--model.position", "learned", "--model.max_length", "32")
    assert not (tmp_path / "run" / "checkpoints").exists()
