"""Recipe layering and validation at the boundary."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from rlgan_ls.errors import UsageError
from rlgan_ls.recipes import build_config, find_recipe, load_toml


@dataclass
class _Cfg:
    alpha: float = 0.0
    steps: int = 10
    method: Literal["bc", "dagger"] = "bc"
    hidden: tuple[int, ...] = (64, 64)
    note: str | None = None
    tags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 <= self.alpha < 1:
            raise UsageError(f"--alpha must be in [0, 1), got {self.alpha}")


def test_layers_override_in_order_and_none_means_not_given(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('alpha = 0.1\nsteps = 50\nmethod = "dagger"\nhidden = [32, 16]\n')
    cfg = build_config(_Cfg, load_toml(recipe), {"steps": 5, "alpha": None, "note": "x"})
    assert cfg == _Cfg(alpha=0.1, steps=5, method="dagger", hidden=(32, 16), note="x")
    assert isinstance(cfg.hidden, tuple)
    assert isinstance(build_config(_Cfg, {"alpha": 0}).alpha, float)  # TOML ints become floats
    assert build_config(_Cfg, {"steps": 20.0}).steps == 20


@pytest.mark.parametrize(
    ("layer", "match"),
    [({"alpah": 0.1}, "unknown setting 'alpah'"), ({"steps": "ten"}, "steps must be an integer"),
     ({"method": "ppo"}, "method must be one of bc, dagger"), ({"hidden": 3}, "hidden must be a list"),
     ({"alpha": 1.5}, "--alpha must be in"), ({"alpha": True}, "alpha must be a number")],
)
def test_bad_values_name_the_setting(layer, match):
    with pytest.raises(UsageError, match=match):
        build_config(_Cfg, layer)


def test_bad_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("alpha = = 1")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_toml(bad)
    with pytest.raises(UsageError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")


# ------------------------------------------------------------- one config story, whichever way a run starts

def _cli_config(argv):
    from rlgan_ls.cli import build_parser
    from rlgan_ls.dcgan.commands import config_from_args

    return config_from_args(build_parser().parse_args(argv))


def test_python_and_the_cli_apply_the_same_recipe():
    from rlgan_ls.dcgan import GANConfig
    from rlgan_ls.distill import DistillConfig

    recipe = load_toml(find_recipe("gan", "digits"))  # the oracle: what the file says
    python = GANConfig.from_recipe("digits", alpha=0.2)
    assert python == _cli_config(["gan", "--dataset", "digits", "--alpha", "0.2"])
    assert all(getattr(python, k) == (v if not isinstance(v, list) else tuple(v)) for k, v in recipe.items())
    assert python.steps != GANConfig().steps  # the recipe did change something, so the check means something
    assert GANConfig.from_recipe("digits", steps=7).steps == 7  # keyword overrides beat the recipe
    assert GANConfig.from_recipe("folder:x").dataset == "folder:x"  # folders share the folder recipe
    lunar = DistillConfig.from_recipe("LunarLander-v3")
    assert (lunar.rounds, lunar.width) == (load_toml(find_recipe("agents", "LunarLander-v3"))["rounds"], 128)
    assert DistillConfig.from_recipe("CartPole-v1") == DistillConfig(env="CartPole-v1")  # no recipe: the defaults
    with pytest.raises(UsageError, match="unknown setting.*stepz"):
        GANConfig.from_recipe("digits", stepz=3)


def test_help_says_where_a_default_can_come_from(capsys):
    from rlgan_ls.cli import main

    with pytest.raises(SystemExit):
        main(["gan", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "digits: dataset='digits', steps=5000" in text and "overrides the defaults shown" in text
    assert "(default: None)" not in text and "``" not in text and "(default: )" not in text
    with pytest.raises(SystemExit):
        main(["distill", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "LunarLander-v3: rounds=10" in text
    assert "needed if unbounded)" in text and "unbounded). (default" not in text  # one default, not two


def test_a_setting_that_does_not_apply_is_recorded_as_none():
    from rlgan_ls.distill import DistillConfig

    cfg = DistillConfig(bins=5, method="bc", prior="uniform", arch="mlp", teacher="t.zip")
    discrete = cfg.resolved(box=False, arch="mlp", teacher_algo="ppo", teacher_steps=None)
    assert discrete.bins is None and discrete.action_low is None
    assert (discrete.beta_schedule, discrete.beta_rounds, discrete.beta_p, discrete.act) == (None,) * 4  # BC
    assert discrete.prior_width is None and discrete.entropy_beta is None and discrete.channels is None
    assert discrete.teacher_seed is None and discrete.alpha == cfg.alpha and discrete.teacher_algo == "ppo"
    box = DistillConfig(bins=5, prior="gaussian", loss="entropy-bonus", alpha=0.0).resolved(True, "cnn", None, None)
    assert (box.bins, box.prior_width, box.entropy_beta, box.channels, box.beta_rounds) == (5, 1.0, 0.01, 32, 3)
    assert box.beta_p is None  # the linear schedule has no decay factor
    assert box.record()["bins"] == 5 and discrete.record()["bins"] is None
