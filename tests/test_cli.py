"""The ``warmstart`` command, run in-process on real checkpoints written by TensorFlow.

Models for ``plan --model`` come from a factory file written into a temporary folder and
named in the ``path/to/file.py:factory`` form, as a user would.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest
import tensorflow as tf

from warmstart.cli import ExitStatus, main
from warmstart.cli.main import mismatch_policy, rename_rule
from warmstart.cli.render import ERROR_LINES, error_text

FACTORIES = '''
import keras


def mlp(widths=(8, 3), head="head"):
    layers = [keras.Input((4,))]
    layers += [keras.layers.Dense(w, name=f"d{i + 1}") for i, w in enumerate(widths)]
    return keras.Sequential(layers + [keras.layers.Dense(1, name=head)], name="mlp")


def same():
    return mlp()


def changed():
    """d1 grows 8 -> 12 (so d2's kernel grows too) and the head is renamed."""
    return mlp(widths=(12, 3), head="out")


def unbuilt():
    return keras.Sequential([keras.layers.Dense(3, name="d1")])


def boom():
    raise ValueError("no such feature column")


def interrupted():
    raise KeyboardInterrupt


def compiled_changed():
    model = changed()
    model.compile(optimizer="adam", loss="mse")
    return model


def items(vocabulary=("a", "b", "c", "d")):
    ids = keras.Input((1,), dtype="int32")
    return keras.Model(ids, keras.layers.Embedding(len(vocabulary) + 1, 2, name="items")(ids), name="items_model")


def grown_items():
    return items(("d", "x", "b", "a", "y"))
'''


@dataclass(frozen=True)
class Result:
    status: ExitStatus
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def cli(*argv: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err)
    return Result(status, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> str:
    """A CheckpointManager directory holding a trained MLP and its Adam slots."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, name="d1"), keras.layers.Dense(3, name="d2"),
         keras.layers.Dense(1, name="head")], name="mlp",
    )
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(32, 4)), rng.normal(size=(32, 1)), epochs=2, batch_size=16, verbose=0)
    directory = tmp_path_factory.mktemp("run") / "ckpts"
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=model, optimizer=model.optimizer), str(directory), max_to_keep=2
    )
    manager.save()
    manager.save()
    return str(directory)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "factories.py"
    path.write_text(FACTORIES)
    return path


def model(models: Path, name: str) -> str:
    return f"{models}:{name}"


# --- inspect -------------------------------------------------------------------------------


def test_inspect_table_names_variables_and_slot_owners(run_dir):
    r = cli("inspect", run_dir)
    assert r.status == ExitStatus.SUCCESS and r.err == ""
    header, *rows = r.out.splitlines()
    assert header.startswith(os.path.join(run_dir, "ckpt-2"))  # the latest, resolved
    assert "6 variable(s)" in header and "12 optimizer slot(s)" in header and "hidden" in header
    for name in ("d1/kernel", "d1/bias", "d2/kernel", "head/bias"):
        assert any(line.split()[:1] == [name] for line in rows), name
    slot_rows = [line.split() for line in rows if line.strip().startswith("optimizer/")]
    assert len(slot_rows) == 12
    assert ["d1/kernel", "momentums"] in [row[-2:] for row in slot_rows]
    assert "save_counter" not in r.out


def test_inspect_all_shows_other_entries(run_dir):
    r = cli("inspect", run_dir, "--all")
    assert r.status == ExitStatus.SUCCESS
    assert "save_counter" in r.out and "other" in r.out


def test_inspect_json(run_dir):
    entries = cli("inspect", run_dir, "--json").json()
    by_name = {e["name"]: e for e in entries}
    assert by_name["d1/kernel"]["shape"] == [4, 8]
    assert by_name["d1/kernel"]["kind"] == "variable" and by_name["d1/kernel"]["dtype"] == "float32"
    slots = [e for e in entries if e["kind"] == "slot"]
    variables = {e["name"] for e in entries if e["kind"] == "variable"}
    assert len(slots) == 12 and {s["slot_owner"] for s in slots} == variables
    assert {s["slot_name"] for s in slots} == {"momentums", "velocities"}
    assert "save_counter" not in by_name
    everything = cli("inspect", run_dir, "--json", "--all").json()
    assert "save_counter" in {e["name"] for e in everything}


# --- plan ------------------------------------------------------------------------------------


def test_plan_same_model_would_load_everything(run_dir, models):
    r = cli("plan", run_dir, "--model", model(models, "same"), "--strict")
    assert r.status == ExitStatus.SUCCESS, r.err
    assert "would load 6, skipped 0, missing 0" in r.out


RULES = ("--rename", r"out/(.*)=head/\1", "--on-mismatch-for", "d[12]/.*=overlap")


def test_plan_with_rules_text(run_dir, models):
    r = cli("plan", run_dir, "--model", model(models, "changed"), *RULES)
    assert r.status == ExitStatus.SUCCESS, r.err
    rows = [line.split() for line in r.out.splitlines()]
    assert ["out/kernel", "head/kernel", "copy", "(3,", "1)", "rename", "'out/(.*)'"] in rows
    assert ["d1/kernel", "overlap", "(4,", "8)", "->", "(4,", "12)", "name"] in rows
    assert "PROBLEM" not in r.out


def test_plan_with_rules_json(run_dir, models):
    r = cli("plan", run_dir, "--model", model(models, "changed"), *RULES, "--json")
    assert r.status == ExitStatus.SUCCESS
    report = r.json()
    assert report["ok"] is True and report["dry_run"] is True
    loaded = {e["target"]: e for e in report["loaded"]}
    assert set(loaded) == {"d1/kernel", "d1/bias", "d2/kernel", "d2/bias", "out/kernel", "out/bias"}
    assert loaded["out/kernel"]["source"] == "head/kernel" and loaded["out/kernel"]["strategy"] == "rename"
    assert loaded["d2/kernel"]["action"] == "overlap" and loaded["d2/kernel"]["source_shape"] == [8, 3]


def test_plan_default_overlap_with_a_per_pattern_exception(run_dir, models):
    r = cli("plan", run_dir, "--model", model(models, "changed"), "--on-mismatch", "overlap",
            "--on-mismatch-for", "d2/.*=skip", "--rename", r"out/(.*)=head/\1", "--json")
    report = r.json()
    assert {e["target"] for e in report["loaded"] if e["action"] == "overlap"} == {"d1/kernel", "d1/bias"}
    assert [e["target"] for e in report["skipped"]] == ["d2/kernel"]


def test_plan_rename_to_nothing(run_dir, models):
    r = cli("plan", run_dir, "--model", model(models, "changed"), "--rename", "out/.*=None",
            "--on-mismatch", "overlap", "--json")
    assert r.status == ExitStatus.SUCCESS
    skipped = {e["target"]: e["reason"] for e in r.json()["skipped"]}
    assert skipped == {"out/kernel": "rename_none", "out/bias": "rename_none"}


def test_plan_with_problems_exits_1(run_dir, models):
    r = cli("plan", run_dir, "--model", model(models, "changed"), "--strict", "--json")
    assert r.status == ExitStatus.PROBLEMS == 1
    report = r.json()
    assert report["ok"] is False and any("strict" in p for p in report["problems"])
    text = cli("plan", run_dir, "--model", model(models, "changed"), "--strict")
    assert text.status == 1 and "PROBLEM: strict warm start is incomplete" in text.out


def test_plan_expect_missing_satisfies_strict(run_dir, models):
    r = cli("plan", run_dir, "--model", model(models, "changed"), "--strict", "--on-mismatch", "overlap",
            "--expect-missing", "out/.*")
    assert r.status == ExitStatus.SUCCESS, r.out


# --- errors -----------------------------------------------------------------------------------


def test_missing_checkpoint_is_3_with_one_line(tmp_path):
    r = cli("inspect", str(tmp_path / "nope"))
    assert r.status == ExitStatus.CHECKPOINT == 3
    assert r.err.startswith("warmstart: error: CheckpointNotFoundError: no checkpoint at ")
    assert len(r.err.splitlines()) == 1 and "Traceback" not in r.err and r.out == ""


def test_unreadable_checkpoint_is_3(tmp_path):
    (tmp_path / "bad.index").write_bytes(b"not a checkpoint index at all")
    r = cli("inspect", str(tmp_path / "bad"))
    assert r.status == ExitStatus.CHECKPOINT
    assert r.err.startswith("warmstart: error: CheckpointReadError: ")


def test_traceback_flag_prints_the_stack(tmp_path):
    for argv in (["--traceback", "inspect", str(tmp_path)], ["inspect", str(tmp_path), "--traceback"]):
        r = cli(*argv)
        assert r.status == ExitStatus.CHECKPOINT
        assert r.err.startswith("Traceback (most recent call last):")
        assert r.err.rstrip().splitlines()[-1].startswith("warmstart: error: CheckpointNotFoundError")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--include", "d1/(kernel"], "invalid regex 'd1/(kernel'"),
        (["--exclude", "nothing/.*"], "exclude 'nothing/.*' matched no variable of the model"),
        (["--rename", r"nothing/(.*)=head/\1"], "rename 'nothing/(.*)' matched no variable"),
    ],
)
def test_rule_errors_are_4(run_dir, models, extra, message):
    r = cli("plan", run_dir, "--model", model(models, "same"), *extra)
    assert r.status == ExitStatus.RULE == 4
    assert r.err.startswith("warmstart: error: RuleError: ") and message in r.err
    assert len(r.err.splitlines()) <= 1 + ERROR_LINES and r.out == ""


def test_unbuilt_model_is_5(run_dir, models):
    r = cli("plan", run_dir, "--model", model(models, "unbuilt"))
    assert r.status == ExitStatus.ERROR == 5
    assert r.err.startswith("warmstart: error: TargetNotBuiltError: ")


def test_failing_factory_is_5_and_chains_its_error(run_dir, models):
    r = cli("plan", run_dir, "--model", model(models, "boom"))
    assert r.status == ExitStatus.ERROR
    assert r.err == f"warmstart: error: the model factory '{model(models, 'boom')}' raised ValueError: no such feature column\n"
    deep = cli("plan", run_dir, "--model", model(models, "boom"), "--traceback")
    assert 'raise ValueError("no such feature column")' in deep.err


def test_interrupt_is_130(run_dir, models):
    r = cli("plan", run_dir, "--model", model(models, "interrupted"))
    assert r.status == ExitStatus.INTERRUPTED == 130
    assert r.err.strip() == "warmstart: interrupted"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["plan", "x"],  # --model is required
        ["plan", "x", "--model", "m:f", "--rename", "no-equals-sign"],
        ["plan", "x", "--model", "m:f", "--on-mismatch-for", "d1/.*=squash"],
    ],
)
def test_usage_errors_are_2(argv):
    r = cli(*argv)
    assert r.status == ExitStatus.USAGE == 2
    assert "usage: warmstart" in r.err and r.out == ""


@pytest.mark.parametrize(("spec", "message"), [
    ("no_colon", "expected MODULE:FACTORY"),
    ("no_such_module_xyz:f", "no module named 'no_such_module_xyz'"),
    ("{models}:nope", "has no function 'nope' (it has: boom, changed, compiled_changed, grown_items, interrupted, items, mlp, same, unbuilt)"),
    ("{models}.missing.py:f", "no Python file"),
])
def test_model_that_cannot_be_found_is_2(run_dir, models, spec, message):
    r = cli("plan", run_dir, "--model", spec.format(models=models))
    assert r.status == ExitStatus.USAGE
    assert r.err.startswith("warmstart: error: ") and message in r.err


def test_help_documents_exit_statuses():
    r = cli("--help")
    assert r.status == ExitStatus.SUCCESS and r.err == ""
    for line in ("0    success", "3    checkpoint not found or unreadable", "4    rule error", "130  interrupted"):
        assert line in r.out
    assert cli("plan", "--help").status == ExitStatus.SUCCESS
    assert cli("--version").out.startswith("warmstart ")


def test_library_logs_only_with_verbose(run_dir, models):
    quiet = cli("plan", run_dir, "--model", model(models, "same"))
    assert quiet.err == ""
    loud = cli("-v", "plan", run_dir, "--model", model(models, "same"))
    assert "warmstart: INFO: warm start from" in loud.err


# --- small pieces --------------------------------------------------------------------------


def test_rename_rule_splits_at_the_last_equals_sign():
    assert rename_rule(r"a(?=b)/(.*)=c/\1") == ("a(?=b)/(.*)", r"c/\1")
    assert rename_rule("head/.*=") == ("head/.*", None)
    assert rename_rule("head/.*=None") == ("head/.*", None)


def test_mismatch_policy_keeps_a_non_skip_default_as_catch_all():
    assert mismatch_policy("overlap", []) == "overlap"
    assert mismatch_policy("skip", [("a", "overlap")]) == {"a": "overlap"}
    assert list(mismatch_policy("error", [("a", "overlap")]).items()) == [("a", "overlap"), (".*", "error")]


def test_error_text_keeps_long_messages_short():
    message = "headline:\n" + "\n".join(f"  - problem {i}" for i in range(30))
    text = error_text(RuntimeError(message))
    lines = text.splitlines()
    assert lines[0] == "warmstart: error: RuntimeError: headline:"
    assert len(lines) == 2 + ERROR_LINES and "--traceback shows all" in lines[-1]


# --- demo --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_quiet_prints_the_summary_and_names_its_folder(tmp_path):
    out_dir = tmp_path / "demo"
    r = cli("demo", "--out", str(out_dir), "--quiet", "--seed", "3", "--users", "60", "--items", "60",
            "--interactions", "20000", "--day1-steps", "60", "--steps", "20", "--eval-every", "10")
    assert r.status == ExitStatus.SUCCESS, r.err
    assert r.err == ""
    curves = json.loads((out_dir / "curves.json").read_text())
    report = json.loads((out_dir / "report.json").read_text())
    assert report["ok"] and [m["target"] for m in report["missing"]] == ["hour_emb/embeddings"]
    assert curves["config"]["seed"] == 3 and curves["config"]["steps"] == 20 and curves["day1"]["steps"] == 60
    assert (out_dir / "curves.png").is_file()
    lines = r.out.splitlines()
    assert lines[-1] == f"Wrote report.json, curves.json, curves.png to {out_dir}"  # the folder, at the end
    assert lines[1].startswith("Carried: 9 of 10 variables and 18 of 20 optimizer slots")
    assert f"{curves['warm_start']['eval_loss']:.4f}" in r.out
    assert "Loaded (" not in r.out and "1. Day 1" not in r.out  # --quiet: the summary only


@pytest.mark.parametrize(("extra", "message"), [
    (["--data", "ratings.csv", "--users", "10"], "--users sizes generated logs; it cannot be combined with --data"),
    (["--data", "no-such-ratings.csv"], "demo --data: no file 'no-such-ratings.csv'"),
])
def test_demo_usage_errors(tmp_path, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    r = cli("demo", "--out", str(tmp_path / "out"), *extra)
    assert r.status == ExitStatus.USAGE, r.err
    assert message in r.err and not (tmp_path / "out").exists()


def test_demo_bad_data_file_is_a_usage_error(tmp_path):
    (tmp_path / "ratings.csv").write_text("user,item\n1,2\n")
    r = cli("demo", "--out", str(tmp_path / "out"), "--data", str(tmp_path / "ratings.csv"))
    assert r.status == ExitStatus.USAGE
    assert r.err.startswith("warmstart: error: demo --data: ") and "expected a MovieLens ratings.csv" in r.err


def test_demo_sizes_must_be_positive():
    r = cli("demo", "--steps", "0")
    assert r.status == ExitStatus.USAGE and "expected a positive integer, got '0'" in r.err


@pytest.mark.subprocess
def test_console_script_error_is_one_line_on_stderr(tmp_path):
    """A fresh process: TensorFlow's C++ start-up notices must not reach stderr. Needs
    ``import warmstart`` not to import TensorFlow (the package's lazy ``__getattr__``)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    script = textwrap.dedent("""
        import sys
        from warmstart.cli.main import run
        sys.argv = ["warmstart", "inspect", sys.argv[1]]
        run()
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "nope")],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 3
    assert done.stderr.splitlines() == [done.stderr.strip()] and "CheckpointNotFoundError" in done.stderr


def test_unexpected_error_is_5_and_says_so(run_dir, models, monkeypatch):
    import warmstart

    def broken(*args, **kwargs):
        raise TypeError("an internal bug")

    monkeypatch.setattr(warmstart, "warm_start", broken)
    r = cli("plan", run_dir, "--model", model(models, "same"))
    assert r.status == ExitStatus.ERROR
    assert r.err.splitlines() == [
        "warmstart: error: TypeError: an internal bug",
        "  (unexpected; rerun with --traceback to see where it came from)",
    ]


# --- apply -----------------------------------------------------------------------------------


def test_apply_writes_a_checkpoint_tf_restores_and_the_report(run_dir, models, tmp_path):
    out = tmp_path / "day2-start"
    r = cli("apply", run_dir, "--model", model(models, "changed"), "--out", str(out),
            "--on-mismatch", "overlap", "--rename", "out/(.*)=head/\\1", "--strict")
    assert r.status == ExitStatus.SUCCESS, r.err
    assert "loaded 6, skipped 0, missing 0" in r.out and f"Wrote {out / 'ckpt-1'}" in r.out
    report = json.loads((out / "report.json").read_text())
    assert report["ok"] and {e["target"] for e in report["loaded"]} == {
        "d1/kernel", "d1/bias", "d2/kernel", "d2/bias", "out/kernel", "out/bias"}
    # TensorFlow's own restore of the same (changed) model reads it, value for value
    trained = tf.train.load_checkpoint(tf.train.latest_checkpoint(run_dir))
    fresh = keras.Sequential([keras.Input((4,)), keras.layers.Dense(12, name="d1"), keras.layers.Dense(3, name="d2"),
                              keras.layers.Dense(1, name="out")], name="mlp")
    tf.train.Checkpoint(model=fresh).restore(tf.train.latest_checkpoint(str(out))).assert_existing_objects_matched()
    old_d1 = next(trained.get_tensor(k) for k, s in tf.train.list_variables(tf.train.latest_checkpoint(run_dir))
                  if s == [4, 8])
    np.testing.assert_array_equal(fresh.get_layer("d1").kernel.numpy()[:, :8], old_d1)
    # and warm_start reads it by name
    again = cli("plan", str(out), "--model", model(models, "changed"), "--strict")
    assert again.status == ExitStatus.SUCCESS and "would load 6" in again.out


def test_apply_with_optimizer_and_vocab(run_dir, models, tmp_path):
    (tmp_path / "v1.txt").write_text("a\nb\nc\nd\n")
    (tmp_path / "v2.txt").write_text("d\nx\nb\na\ny\n")
    keras.utils.set_random_seed(1)
    ids = keras.Input((1,), dtype="int32")
    day1 = keras.Model(ids, keras.layers.Embedding(5, 2, name="items")(ids), name="items_model")
    day1_prefix = tf.train.Checkpoint(model=day1).write(str(tmp_path / "day1" / "ckpt"))
    out = tmp_path / "start"
    r = cli("apply", day1_prefix, "--model", model(models, "grown_items"), "--out", str(out),
            "--vocab", f"items/embeddings={tmp_path / 'v1.txt'}:{tmp_path / 'v2.txt'},num_oov_indices=1")
    assert r.status == ExitStatus.SUCCESS, r.err
    written = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(out)))
    table = next(written.get_tensor(k) for k in written.get_variable_to_shape_map() if "embeddings" in k)
    old = day1.get_layer("items").embeddings.numpy()
    for new_row, old_row in ((0, 0), (1, 4), (3, 2), (4, 1)):  # OOV, d, b, a
        np.testing.assert_array_equal(table[new_row], old[old_row])
    r = cli("apply", run_dir, "--model", model(models, "compiled_changed"), "--out", str(tmp_path / "opt"),
            "--on-mismatch", "overlap", "--rename", "out/(.*)=head/\\1", "--optimizer", "--json")
    assert r.status == ExitStatus.SUCCESS, r.err
    data = r.json()
    assert {s["outcome"] for s in data["slots"]} == {"loaded"}
    keys = [k for k, _ in tf.train.list_variables(tf.train.latest_checkpoint(str(tmp_path / "opt")))]
    assert any(k.startswith("optimizer/") for k in keys)


def test_apply_refuses_a_folder_that_is_not_empty_and_writes_nothing_on_failure(run_dir, models, tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "old.txt").write_text("x")
    r = cli("apply", run_dir, "--model", model(models, "same"), "--out", str(tmp_path / "used"))
    assert r.status == ExitStatus.USAGE and "not empty" in r.err
    r = cli("apply", run_dir, "--model", model(models, "changed"), "--out", str(tmp_path / "fail"), "--strict")
    assert r.status == ExitStatus.PROBLEMS and "IncompleteError" in r.err
    assert not (tmp_path / "fail").exists()


def test_plan_source_root_and_cast_options(tmp_path, models):
    keras.utils.set_random_seed(2)
    layers = [keras.Input((4,)), keras.layers.Dense(8, name="d1"), keras.layers.Dense(3, name="d2"),
              keras.layers.Dense(1, name="head")]
    g, d = keras.Sequential(layers, name="g"), keras.models.clone_model(keras.Sequential(layers, name="d"))
    prefix = tf.train.Checkpoint(generator=g, discriminator=d).write(str(tmp_path / "gan"))
    r = cli("plan", prefix, "--model", model(models, "same"))
    assert r.status == ExitStatus.PROBLEMS and "source_root='discriminator'" in r.out
    r = cli("plan", prefix, "--model", model(models, "same"), "--source-root", "generator", "--strict")
    assert r.status == ExitStatus.SUCCESS and "would load 6" in r.out
    r = cli("inspect", prefix, "--source-root", "generator", "--json")
    assert {e["name"] for e in r.json() if e["kind"] == "variable"} == {
        "d1/kernel", "d1/bias", "d2/kernel", "d2/bias", "head/kernel", "head/bias"}
    r = cli("plan", prefix, "--model", model(models, "same"), "--source-root", "generator", "--cast", "float64")
    assert r.status == ExitStatus.RULE and "cast[0]" in r.err


def test_inspect_and_plan_read_keras_files(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="d1"), keras.layers.Dense(3, name="d2"),
                              keras.layers.Dense(1, name="head")], name="mlp")
    path = str(tmp_path / "mlp.weights.h5")
    model.save_weights(path)
    r = cli("inspect", path)
    assert r.status == ExitStatus.SUCCESS and "(keras-weights)" in r.out
    assert "d1/0" in r.out and "note:" in r.out and "position" in r.out
    factories = tmp_path / "factories.py"
    factories.write_text(FACTORIES)
    plan = cli("plan", path, "--model", f"{factories}:changed", "--on-mismatch", "overlap",
               "--rename", r"out/(.*)=head/\1", "--json").json()
    assert {e["target"]: e["action"] for e in plan["loaded"]} == {
        "d1/kernel": "overlap", "d1/bias": "overlap", "d2/kernel": "overlap", "d2/bias": "copy",
        "out/kernel": "copy", "out/bias": "copy"}
    assert plan["location"]["format"] == "keras-weights"


def test_vocab_rule_splits_at_the_colon_that_names_two_files(tmp_path):
    from warmstart.cli.parser import vocab_rule

    old, new = tmp_path / "day:1.txt", tmp_path / "day:2.txt"
    old.write_text("a\n")
    new.write_text("a\n")
    assert vocab_rule(f"emb/.*={old}:{new},num_oov_indices=1") == (
        "emb/.*", {"old": str(old), "new": str(new), "num_oov_indices": 1})
    assert vocab_rule("emb=v1.txt:v2.txt") == ("emb", {"old": "v1.txt", "new": "v2.txt"})  # nothing on disk
