"""Shared, cached stages: denoisers (source, finetuned, target-only), classifiers, guidance.

Each stage is keyed by everything it depends on (the task's data keys and the stage's
own hyper-parameters) and seeded from that key, never from the method that asks for
it, so ten methods on one task train the source model once and get the same one.
"""
