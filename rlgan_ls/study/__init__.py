"""Studies: many runs of one pipeline over tasks, smoothing strengths and seeds, and their report.

- :mod:`.sweep`: plans the grid and runs its cells (a local process pool or Ray Tune);
- :mod:`.compare`: reads the runs of an experiment folder back and writes the report;
- :mod:`.summary`: per task and alpha, aggregates with intervals, and the tables;
- :mod:`.stats`: IQM, stratified bootstrap intervals, probability of improvement, performance profiles;
- :mod:`.plots`: the report's figures.
"""
