"""The plugin's own tests run inner pytest sessions with ``pytester``.

pytester's in-process runs restore ``sys.modules`` after each inner session, and a C extension
(qpid-proton's ``cproton_ffi``) cannot be imported a second time; importing the libraries the
inner tests use here keeps them out of the restore. (Not the plugin itself: imported before
pytest loads it, it could not be assertion-rewritten.)
"""

import aiohttp  # noqa: F401
import asyncua  # noqa: F401
import proton  # noqa: F401

pytest_plugins = ["pytester"]
