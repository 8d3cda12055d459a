"""Switching the face models without downtime (``facerec models use``).

``choice.py``: the active models, kept in the database; ``models.py``: the second set of
vectors and the switch's progress; ``reembed.py``: filling that set; ``service.py``: start,
run and finish a switch; ``serving.py``: a worker's engine and index as one object and how
a worker follows a switch; ``views.py`` and ``cli.py``: the API and the shell.
"""
