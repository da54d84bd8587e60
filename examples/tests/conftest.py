"""Load the linegate pytest plugin for the examples.

Once linegate is installed with its ``pytest11`` entry point (named after the plugin module),
the plugin loads by itself and this line is a no-op; it keeps the examples runnable from a
source checkout too.
"""

pytest_plugins = ["gateway.testing.plugin"]
