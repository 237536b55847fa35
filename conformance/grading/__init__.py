"""Grading a class: an instructor's assignment (one adapter reaching each student's code
through ``self.submission``), students' submissions as modules, packages or notebooks,
and what a course needs back (scores, feedback files, Gradescope's results, a class summary).

``assignment`` reads the assignment's settings without running anything; ``submission``
and ``notebooks`` load a student's code, only ever inside the sandboxed worker;
``scores``, ``feedback`` and ``gradescope`` turn a run's rows into grades; ``grade`` is
``conformance grade``, ``autograder`` writes Gradescope's autograder bundle.
"""
