"""The synthetic studies' fast writer stores what optuna's own `add_trials` stores."""

from __future__ import annotations

import optuna

from . import synthetic


def test_fast_writer_matches_add_trials(tmp_path, monkeypatch):
    fast = synthetic.scratch_study(f"sqlite:///{tmp_path}/fast.db", "s", 20)

    def add_trials(storage, study_id, trials):  # what the writer replaces
        optuna.load_study(study_name="s", storage=storage).add_trials(trials)

    monkeypatch.setattr(synthetic, "_add_trials", add_trials)
    slow = synthetic.scratch_study(f"sqlite:///{tmp_path}/slow.db", "s", 20)
    trials = fast.get_trials()
    assert len(trials) == 20 and {t.state.name for t in trials} == {"COMPLETE", "PRUNED"}
    assert trials == slow.get_trials()
