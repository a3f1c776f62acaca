"""Metrics: classification (with bootstrap CIs), attention-versus-gaze saliency, localisation.

Report metrics live in :mod:`gazecxr.metrics.report`.
"""
