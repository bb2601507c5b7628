"""Recipe layering and validation at the boundary."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from rlgan_ls.errors import UsageError
from rlgan_ls.recipes import build_config, load_toml


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
