"""The evaluation service behind ``envtrust evaluate``: real and synthetic networks with injected
interference, scored by envtrust and the baselines (``harness``), and the fits of the learned
combiners on the development split (``combiner``)."""
