"""One module per ``envtrust`` subcommand; see :mod:`envtrust.cli`."""
