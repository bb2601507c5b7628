"""Teachers: what labels the states a student learns from.

- :mod:`.base`: the :class:`Teacher` interface and its two kinds, a Stable-Baselines3 model or any
  callable, and the :class:`Labels` they give;
- :mod:`.continuous`: a Box teacher's soft labels (each bin's mass under its Gaussian policy);
- :mod:`.sb3`: SB3 settings, building a model to train, loading a saved zip;
- :mod:`.cache`: training teachers and caching them (with the random policy's return beside them);
- :mod:`.resolve`: the teacher for a config (passed in, a file, or cached), the one entry point.
"""

from .base import CallableTeacher, Labels, SB3Teacher, Teacher, as_teacher, executed_actions
from .cache import TeacherInfo, TeacherRequest, get_teacher, random_return, train_teacher
from .resolve import ResolvedTeacher, load_sb3_teacher, resolve_teacher

__all__ = ["CallableTeacher", "Labels", "ResolvedTeacher", "SB3Teacher", "Teacher", "TeacherInfo", "TeacherRequest",
           "as_teacher", "executed_actions", "get_teacher", "load_sb3_teacher", "random_return", "resolve_teacher",
           "train_teacher"]
