"""Training: the body of ``train.py`` (seed, instantiate, fit) and its callbacks."""
